"""The package's shape: the core imports no domain, no import cycle, and a domain is one module + one YAML.

The import graph is read from the source (every ``import`` statement, at module level or inside a
function), so a lazy import that dodges a cycle at run time still counts.
"""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import seqvae

ROOT = Path(seqvae.__file__).parent
DOMAINS = "seqvae.domains"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(path: Path) -> set[str]:
    """The seqvae modules ``path`` imports (``from pkg import sub`` counts as importing ``pkg.sub``)."""
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name in MODULES and name != here}


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _is_domain(name: str) -> bool:
    return name == DOMAINS or name.startswith(DOMAINS + ".")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_walk_sees_the_package() -> None:
    # the graph is not vacuous: the core and every built-in domain are in it, with their known edges
    assert {"seqvae.training", "seqvae.report", "seqvae.data.sources", "seqvae.registry"} <= set(GRAPH)
    for domain in ("basketball", "strokes", "sprites", "planning", "arm7", "polymer", "dmol"):
        assert f"{DOMAINS}.{domain}.experiment" in GRAPH
    assert "seqvae.training" in GRAPH[f"{DOMAINS}.basketball.experiment"]
    assert "seqvae.data.sources" in GRAPH["seqvae.training"]


def test_no_core_module_imports_a_domain() -> None:
    upward = {m: sorted(t for t in targets if _is_domain(t)) for m, targets in GRAPH.items() if not _is_domain(m)}
    assert {m: t for m, t in upward.items() if t} == {}
    # and no core module imports one by name (importlib.import_module("seqvae.domains..."))
    named = [m for m, p in MODULES.items() if not _is_domain(m) and _imports_by_name(p)]
    assert named == []


def _imports_by_name(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if func in ("import_module", "__import__", "find_spec") and str(node.args[0].value).startswith(DOMAINS):
                return True
    return False


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle() -> None:
    # package __init__ files that import their own sub-modules (to register them) are the one allowed
    # back edge: a sub-module importing its parent package only reaches that package's __init__
    graph = {m: {t for t in targets if not (m.startswith(t + "."))} for m, targets in GRAPH.items()}
    assert _cycles(graph) == []


TOY_MODULE = '''
"""A toy domain: a data kind, a report view and an experiment, in one module."""

import json

import numpy as np

from seqvae.data.sources import register_data_kind
from seqvae.experiments import register_experiment
from seqvae.experiments.common import experiment_config
from seqvae.training import fit


@register_data_kind("toy-lines")
def toy_lines(n: int = 64, seed: int = 0):
    rng = np.random.default_rng(seed)
    slope = rng.normal(size=(n, 1)).astype(np.float32)
    return slope * np.linspace(-1, 1, 8, dtype=np.float32), {"slope": slope[:, 0]}


@register_experiment("toy", "lines through the origin, a 1-D latent")
def run(out_dir, seed=0, overrides=(), preset=None, progress=False):
    cfg = experiment_config("toy", seed, list(overrides), preset, progress)
    result = fit(cfg, out_dir / "run")
    metrics = {"experiment": "toy", "best_val_loss": result.summary["best_val_loss"]}
    (out_dir / "metrics.json").write_text(json.dumps(metrics))
    return metrics
'''

TOY_YAML = """
data: {kind: toy-lines, params: {n: 64}}
model: {kind: mlp, latent_dim: 1, hidden: [8]}
train: {max_epochs: 2, batch_size: 16}
"""


def test_a_toy_domain_is_one_module_and_one_yaml(tmp_path: Path) -> None:
    """A package installed beside seqvae (its module, its YAML, and the entry point pip would write for it)
    adds a data kind, a shipped config and an experiment with no edit to seqvae."""
    site = tmp_path / "site"
    pkg = site / "toy_domain"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(TOY_MODULE))
    (pkg / "toy.yaml").write_text(TOY_YAML)
    meta = site / "toy_domain-0.1.dist-info"  # what `pip install` writes for `[project.entry-points."seqvae.domains"]`
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-domain\nVersion: 0.1\n")
    (meta / "entry_points.txt").write_text("[seqvae.domains]\ntoy = toy_domain\n")
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(site)!r})
        from pathlib import Path
        from seqvae.config import shipped_configs
        from seqvae.experiments import available, run_experiment
        out = Path({str(tmp_path / "out")!r})
        metrics = run_experiment("toy", out, seed=0, progress=False, report=False)
        print(json.dumps({{"configs": shipped_configs(), "experiments": sorted(available()),
                           "metrics": metrics, "run": sorted(p.name for p in (out / "run").iterdir())}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "toy" in got["configs"] and "basketball" in got["configs"]  # the plugin's YAML beside the built-ins
    assert {"toy", "basketball", "strokes"} <= set(got["experiments"])
    assert got["metrics"]["experiment"] == "toy" and math.isfinite(got["metrics"]["best_val_loss"])
    assert "run_config.json" in got["run"] and any(n.endswith(".safetensors") for n in got["run"])
