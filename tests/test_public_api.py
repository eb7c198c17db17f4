"""The public API in ``seqvae``'s top level: README's example runs as written, and the names resolve lazily."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_example() -> str:
    text = README.read_text()
    match = re.search(r"<!-- api-example -->\s*```python\n(.*?)```\s*<!-- /api-example -->", text, re.S)
    assert match, "README.md has no api-example block"
    return match.group(1)


def test_the_readme_example_runs_and_its_bounds_are_ordered(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    namespace: dict = {}
    exec(compile(_readme_example(), "README.md:api-example", "exec"), namespace)
    scores, result, loaded = namespace["scores"], namespace["result"], namespace["loaded"]
    # the exported weights are the best weights fit returned, rebuilt from safetensors alone
    got, want = loaded.model.state_dict(), result.model.state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in got)
    assert scores["n_examples"] == len(result.bundle.test) > 0
    # Monte Carlo bounds: ELBO <= IWAE <= log p(x) up to a small slack
    assert scores["elbo"] <= scores["iwae"] + 0.05 and scores["iwae"] <= scores["log_likelihood"] + 0.05
    printed = capsys.readouterr().out
    assert f"{scores['elbo']:.2f}" in printed


def test_every_public_name_resolves_and_import_stays_light() -> None:
    code = (
        "import sys, seqvae; light = 'torch' not in sys.modules and 'lightning' not in sys.modules; "
        "missing = [n for n in seqvae.__all__ if getattr(seqvae, n, None) is None]; "
        "unlisted = sorted(set(seqvae._LAZY) - set(seqvae.__all__)); "
        "print(light, missing, unlisted, sorted(set(seqvae.__all__) - set(dir(seqvae))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "[]", "[]", "[]"]
