"""The seqvae command end to end: train -> evaluate -> sample -> encode, errors and determinism."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from seqvae.cli import app

runner = CliRunner()
FAST = ["--set", "train.max_epochs=3", "--set", "data.params.n=2000", "--no-progress"]


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    invoke("train", "--config", "mlp-gaussian-mixture", "--out", str(out), "--seed", "3", *FAST)
    return out


def test_train_writes_an_exported_run(run_dir: Path) -> None:
    for name in ("model.safetensors", "config.json", "normalizer.json", "train_summary.json", "logs/metrics.csv"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["seed"] == 3 and config["train"]["max_epochs"] == 3  # laid out as run_config.json
    run_config = json.loads((run_dir / "run_config.json").read_text())
    assert {k: config[k] for k in run_config} == run_config  # + format, version, kind, features, model_config


def test_evaluate_orders_the_bounds(run_dir: Path) -> None:
    invoke("evaluate", str(run_dir), "--iwae-samples", "50", "--ll-samples", "500")
    metrics = json.loads((run_dir / "evaluation.json").read_text())
    assert metrics["split"] == "test" and metrics["n_examples"] == 200  # 10% of 2000
    # ELBO <= IWAE(50) <= IS log p(x) (K=500), up to Monte Carlo error
    assert metrics["elbo"] <= metrics["iwae"] + 0.02
    assert metrics["iwae"] <= metrics["log_likelihood"] + 0.02
    assert metrics["elbo"] == pytest.approx(metrics["recon_log_prob"] - metrics["kl"], abs=1e-5)


def test_sample_is_seeded(run_dir: Path, tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c.npz"
    invoke("sample", str(run_dir), "-n", "9", "--out", str(a), "--seed", "1")
    invoke("sample", str(run_dir), "-n", "9", "--out", str(b), "--seed", "1")
    invoke("sample", str(run_dir), "-n", "9", "--out", str(c), "--seed", "2", "--draw")
    xa, xb, xc = (np.load(p)["x"] for p in (a, b, c))
    assert xa.shape == (9, 2)
    np.testing.assert_array_equal(xa, xb)
    assert not np.allclose(xa, xc)


def test_encode_writes_means_and_stds(run_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "points.csv"
    rng = np.random.default_rng(0)
    np.savetxt(data, rng.normal(size=(13, 2)), delimiter=",", header="x,y", comments="")
    out = tmp_path / "lat.npz"
    invoke("encode", str(run_dir), "--data", str(data), "--out", str(out))
    lat = np.load(out)
    assert lat["mean"].shape == (13, 2) and lat["std"].shape == (13, 2)
    assert (lat["std"] > 0).all()


def test_encode_rejects_wrong_feature_count(run_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "wide.npy"
    np.save(data, np.zeros((4, 3), dtype=np.float32))
    result = runner.invoke(app, ["encode", str(run_dir), "--data", str(data)])
    assert result.exit_code == 2
    assert "wide.npy" in result.output and "expects 2" in result.output


def test_unknown_config_key_is_refused_by_name(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["train", "--config", "mlp-gaussian-mixture", "--out", str(tmp_path / "x"), "--set", "train.lerning_rate=0.1"]
    )
    assert result.exit_code == 2
    assert "train.lerning_rate" in result.output
    assert not (tmp_path / "x" / "model.safetensors").exists()


def test_same_seed_gives_identical_metrics(tmp_path: Path) -> None:
    texts = []
    for name in ("a", "b"):
        out = tmp_path / name
        invoke("train", "--config", "mlp-gaussian-mixture", "--out", str(out), "--seed", "5", *FAST)
        invoke("evaluate", str(out), "--iwae-samples", "8", "--ll-samples", "32", "--seed", "5")
        texts.append((out / "evaluation.json").read_text())
    assert texts[0] == texts[1]


def test_help_explains_each_command() -> None:
    out = invoke("--help")
    for command in ("train", "evaluate", "sample", "encode", "experiment"):
        assert command in out
    assert "--set" in invoke("train", "--help")
    assert "importance-sampled" in invoke("evaluate", "--help")


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_interrupt_exports_the_best_model_and_resume_finishes_the_run(tmp_path: Path, sig: str) -> None:
    import csv
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "seqvae.cli", "train", "-c", "mlp-gaussian-mixture", "--out", str(out), "--no-progress",
           "--set", "train.max_epochs=1000", "--set", "data.params.n=4000",
           "--set", "train.checkpoint_every_seconds=0"]  # last.ckpt after the first epoch, not after 30 s

    def as_from_a_terminal() -> None:  # a shell running us in the background may ignore SIGINT
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=as_from_a_terminal)
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoints" / "last.ckpt").exists():  # wait for a finished epoch
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.2)
        proc.send_signal(getattr(signal, sig))
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, output
    assert "seqvae train --resume" in output
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["interrupted"] and summary["best_epoch"] >= 1
    assert (out / "model.safetensors").is_file()  # the best model so far is usable right away
    if sig == "SIGTERM":
        return
    invoke("evaluate", str(out), "--iwae-samples", "4", "--ll-samples", "8")
    # resume to two epochs past the interruption
    target = summary["epochs"] + 2
    invoke("train", "--resume", str(out), "--set", f"train.max_epochs={target}", "--no-progress")
    after = json.loads((out / "train_summary.json").read_text())
    assert after["resumed"] and not after["interrupted"] and after["epochs"] == target
    with (out / "logs/metrics.csv").open() as fh:
        epochs = sorted({int(r["epoch"]) for r in csv.DictReader(fh)})
    assert epochs == list(range(1, target + 1))  # one learning curve, no gap and no duplicate, counted from 1


def test_train_argument_errors() -> None:
    result = runner.invoke(app, ["train", "--out", "x"])
    assert result.exit_code == 2 and "needs --config, or --data FILE alone" in result.output
    result = runner.invoke(app, ["train", "--data", "x.npz"])
    assert result.exit_code == 2 and "train needs --out" in result.output
    result = runner.invoke(app, ["train", "--resume", "a", "--out", "b"])
    assert result.exit_code == 2 and "--resume DIR continues the run in DIR" in result.output
    result = runner.invoke(app, ["train", "--resume", "no/such/run"])
    assert result.exit_code == 2 and "run_config.json does not exist" in result.output


def _modules_after(argv: list[str]) -> tuple[int, set[str], str]:
    """Run ``seqvae ARGV`` in a fresh interpreter: exit code, the heavy modules it imported, stderr."""
    code = (
        "import sys\nfrom seqvae.cli import main\nsys.argv = ['seqvae', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    rc = exc.code\nelse:\n    rc = 0\n"
        "heavy = [m for m in ('torch', 'lightning', 'matplotlib', 'sklearn') if m in sys.modules]\n"
        "print('RESULT', rc, ','.join(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    _, rc, heavy = (line.split(" ") + [""])[:3]
    return int(rc), set(filter(None, heavy.split(","))), proc.stderr


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["train", "--help"], ["train", "--config", "mlp-gaussian-mixture", "--out", "{tmp}", "--set", "train.bogus=1"],
     ["train", "--config", "no-such-config", "--out", "{tmp}"], ["evaluate"]],
)
def test_help_and_config_errors_answer_without_torch(tmp_path: Path, argv: list[str]) -> None:
    rc, heavy, _ = _modules_after([a.format(tmp=tmp_path / "run") for a in argv])
    assert rc in (0, 2) and heavy == set()
    assert not (tmp_path / "run").exists()


def test_failed_train_leaves_nothing_behind(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--config", "vrae-sinusoids", "--out", str(out), "--data", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2 and f"{tmp_path / 'nope.csv'}: no such file or directory" in result.output
    assert not out.exists()  # the directory this command created is gone, run_config.json with it
    bad = tmp_path / "bad.csv"
    bad.write_text("sequence_id,t,x\na,0,1\na,1,nan\n")
    kept = tmp_path / "kept"
    (kept / "notes.txt").parent.mkdir()
    (kept / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["train", "--config", "vrae-sinusoids", "--out", str(kept), "--data", str(bad)])
    assert result.exit_code == 2 and "bad.csv" in result.output
    assert (kept / "notes.txt").read_text() == "mine"  # a directory that was there before is never removed


def test_messages_keep_brackets_and_round_numbers(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["train", "--config", "mlp-gaussian-mixture", "--out", str(tmp_path / "x"), "--set", "train.lr=[abc]"]
    )
    assert result.exit_code == 2 and "train.lr: expected a number, got ['abc']" in result.output  # not eaten as markup
    output = invoke("train", "--config", "mlp-gaussian-mixture", "--out", str(tmp_path / "r"), "--set",
                    "train.max_epochs=1", "--set", "data.params.n=300", "--no-progress")  # fmt: skip
    loss = re.search(r"best val loss (\S+) at epoch", output)
    assert loss is not None
    digits = loss.group(1).lstrip("-").split("e")[0].replace(".", "").lstrip("0")
    assert 1 <= len(digits) <= 4, output
    full = json.loads((tmp_path / "r" / "train_summary.json").read_text())["best_val_loss"]
    assert float(loss.group(1)) == pytest.approx(full, rel=1e-3)


def test_seqvae_warnings_are_one_clean_line(capsys: pytest.CaptureFixture[str]) -> None:
    from seqvae import cli

    cli._show_warning(UserWarning("posterior collapse: none active"), UserWarning, cli.__file__, 42)
    err = capsys.readouterr().err
    assert err.strip() == "warning: posterior collapse: none active"  # no file:line, no source line
    cli._show_warning(UserWarning("foreign"), UserWarning, "/elsewhere/lib.py", 7)
    err = capsys.readouterr().err
    assert "/elsewhere/lib.py:7: UserWarning: foreign" in err


def test_config_json_has_the_run_sections_on_top_and_old_exports_still_load(run_dir: Path, tmp_path: Path) -> None:
    import shutil

    from seqvae.checkpoint import load_run

    new = load_run(run_dir)
    assert new.run is not None and new.run.seed == 3 and new.run.train.max_epochs == 3
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    config = json.loads((old / "config.json").read_text())
    sections = ("seed", "data", "model", "objective", "train", "eval")
    nested = {k: v for k, v in config.items() if k not in sections and k != "model_config"}
    nested["model"] = config["model_config"]  # the layout before: the built model's config, the run nested
    nested["run"] = {k: config[k] for k in sections}
    (old / "config.json").write_text(json.dumps(nested))
    assert load_run(old).run == new.run


def test_failed_experiment_leaves_nothing_behind(tmp_path: Path) -> None:
    out = tmp_path / "strokes"
    result = runner.invoke(app, ["experiment", "strokes", "--out", str(out), "--data", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "nowhere" in result.output
    assert not out.exists()


def test_a_relative_data_path_is_found_from_any_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`train --data rel.csv` stores the absolute path, so `encode RUN` without --data works from elsewhere."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    rng = np.random.default_rng(0)
    np.savetxt(tmp_path / "a" / "points.csv", rng.normal(size=(120, 3)), delimiter=",", header="x,y,z", comments="")
    monkeypatch.chdir(tmp_path / "a")
    invoke("train", "--config", "mlp-gaussian-mixture", "--data", "points.csv", "--out", str(tmp_path / "run"),
           "--set", "train.max_epochs=1", "--no-progress")
    stored = json.loads((tmp_path / "run" / "run_config.json").read_text())["data"]["path"]
    assert Path(stored) == (tmp_path / "a" / "points.csv").resolve()
    monkeypatch.chdir(tmp_path / "b")
    invoke("encode", str(tmp_path / "run"), "--out", str(tmp_path / "z.npz"))
    with np.load(tmp_path / "z.npz") as z:
        assert z["mean"].shape[0] == 120
