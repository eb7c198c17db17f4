"""Run reports: every section and figure present, self-contained (no network), labelled figures, rendered in a
real headless browser; `seqvae compare` across runs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from seqvae import plots
from seqvae.cli import app
from seqvae.experiments import run_experiment
from seqvae.report import SECTIONS, build_report, compare_runs

runner = CliRunner()
QUICK = ["train.max_epochs=2", "eval.iwae_samples=2", "eval.ll_samples=4", "train.batch_size=32"]
MAX_BYTES = 10_000_000
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class _Dom(HTMLParser):
    """Section ids, figure names, image attributes and every URL-bearing attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.figures: list[str] = []
        self.images: list[dict[str, str]] = []
        self.urls: list[str] = []
        self.body: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "section":
            self.sections.append(a.get("id", ""))
        if "data-figure" in a:
            self.figures.append(a["data-figure"])
        if tag == "img":
            self.images.append(a)
        if tag == "body":
            self.body = a
        for key in ("src", "href"):
            if key in a:
                self.urls.append(a[key])


def parse(text: str) -> _Dom:
    dom = _Dom()
    dom.feed(text)
    return dom


@pytest.fixture(scope="module")
def basketball_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "bb"
    run_experiment("basketball", out, seed=1, overrides=["data.params.n=200", *QUICK], progress=False)
    return out


@pytest.fixture(scope="module")
def vector_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "reg"
    run_experiment("dmol-regression", out, seed=0, overrides=["train.max_epochs=3", "data.params.n=400"], progress=False)
    return out


def _local_only(dom: _Dom, text: str) -> None:
    """Nothing is fetched: every src is a data URI, every href an in-page or relative link."""
    for url in dom.urls:
        assert url.startswith(("data:", "#")) or not re.match(r"^[a-z]+:", url), url
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", text, flags=re.S)  # embedded libraries may name URLs they never load
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", markup)
    assert "@import" not in markup and not re.search(r"url\(\s*['\"]?https?:", markup)


def test_experiment_report_has_every_section_and_figure(basketball_run: Path) -> None:
    page = basketball_run / "report.html"
    text = page.read_text()
    dom = parse(text)
    assert dom.sections == [ident for ident, _ in SECTIONS]
    expected = {"learning-curves", "reconstructions", "samples", "interpolation", "kl",
                "latent-start_x", "latent-start_y", "latent-made", "latent-distance", "latent-length",
                "file-latent_grid", "file-reconstructions", "latent-interactive"}
    assert expected <= set(dom.figures)
    metrics = json.loads((basketball_run / "metrics.json").read_text())
    assert {f"file-{Path(f).stem}" for f in metrics["figures"]} <= set(dom.figures)
    assert all(img["src"].startswith("data:image/png;base64,") for img in dom.images)
    assert "incomplete figure" not in text  # every figure has a title and axis labels (plots.figure_problems)
    assert "Not drawn" not in text
    _local_only(dom, text)
    assert page.stat().st_size < MAX_BYTES


def test_vector_run_report_and_sub_runs(vector_run: Path, tmp_path: Path) -> None:
    text = (vector_run / "report.html").read_text()
    dom = parse(text)
    assert {"reconstructions", "samples", "interpolation", "kl", "learning-curves"} <= set(dom.figures)
    assert "incomplete figure" not in text and "Not drawn" not in text
    _local_only(dom, text)
    # a directory of runs: each sub-run gets its own report, linked from the parent's
    parent = tmp_path / "sweep"
    for name in ("a", "b"):
        shutil.copytree(vector_run, parent / name)
    build_report(parent)
    top = parse((parent / "report.html").read_text())
    assert {"a/report.html", "b/report.html"} <= set(top.urls)
    assert (parent / "a" / "report.html").is_file() and (parent / "b" / "report.html").is_file()
    assert "Not drawn: no model.safetensors" in (parent / "report.html").read_text()


def test_report_command_and_missing_dir(basketball_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(basketball_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert parse(out.read_text()).sections == [ident for ident, _ in SECTIONS]
    result = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert result.exit_code != 0 and "not a directory" in result.output


def test_figure_problems_flags_an_unlabelled_figure() -> None:
    fig = plots.new_figure()
    ax = fig.subplots()
    ax.plot([0, 1], [1, 0])
    assert plots.figure_problems(fig) == ["panel 0 has no title", "panel 0 has no x label", "panel 0 has no y label"]
    ax.set_title("t")
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    assert plots.figure_problems(fig) == []
    plots.close_figure(fig)


def test_compare_lists_the_runs_metrics(basketball_run: Path, vector_run: Path, tmp_path: Path) -> None:
    keys, columns = compare_runs([basketball_run, vector_run])
    bb = json.loads((basketball_run / "metrics.json").read_text())
    assert columns[str(basketball_run)]["test.elbo"] == bb["test"]["elbo"]
    assert "test.elbo" in keys and "summary.start_x_r2_knn" in keys  # not every run has a summary: all numbers
    keys_summary, only = compare_runs([basketball_run, basketball_run])
    assert set(keys_summary) == set(bb["summary"]) - {k for k, v in bb["summary"].items() if not isinstance(v, (int, float))}
    html = tmp_path / "cmp.html"
    result = runner.invoke(app, ["compare", str(basketball_run), str(vector_run), "--html", str(html)])
    assert result.exit_code == 0, result.output
    assert "test.elbo" in result.output
    text = html.read_text()
    assert f"{bb['test']['elbo']:.5g}" in text
    _local_only(parse(text), text)
    result = runner.invoke(app, ["compare", str(tmp_path)])
    assert result.exit_code != 0 and "no metrics.json" in result.output


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no headless Chromium found (Debian: apt-get install chromium; .ci/run installs it when it can)")


def _chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    offline = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]  # the network is off
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           f"--user-data-dir={profile}", "--virtual-time-budget=10000", *offline, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_report_renders_in_headless_chromium_without_network(basketball_run: Path, tmp_path: Path) -> None:
    browser = _browser()
    url = (basketball_run / "report.html").resolve().as_uri()
    done = _chromium(browser, tmp_path / "profile", "--dump-dom", url)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = parse(done.stdout)
    assert dom.sections == [ident for ident, _ in SECTIONS]
    assert len(dom.images) >= 15
    # the page's script marks each image the browser decoded; all of them must be drawn
    assert [img.get("data-rendered") for img in dom.images] == ["1"] * len(dom.images)
    assert dom.body.get("data-images-drawn") == str(len(dom.images))
    assert "plotly" in done.stdout and 'class="plot-container' in done.stdout  # the interactive plot ran offline
    shot = tmp_path / "shot.png"
    done = _chromium(browser, tmp_path / "profile2", "--window-size=1280,2400", f"--screenshot={shot}", url)
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]
    background = np.median(pixels.reshape(-1, 3), axis=0)
    differs = np.abs(pixels - background).max(-1) > 0.1
    assert differs.mean() > 0.05  # not a blank page: text, tables and figures cover part of it
    assert len(np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 200  # figures, not one colour


def test_run_metrics_keep_seqvae_evaluate_results_next_to_an_experiments(tmp_path: Path) -> None:
    """`seqvae evaluate` writes evaluation.json beside an experiment's metrics.json; report and compare show both."""
    from seqvae.report import run_metrics

    (tmp_path / "metrics.json").write_text(json.dumps({"summary": {"r2": 0.9}, "config": {"seed": 1}}))
    (tmp_path / "train_summary.json").write_text(json.dumps({"epochs": 3}))
    (tmp_path / "evaluation.json").write_text(json.dumps({"elbo": -12.5, "split": "test"}))
    assert run_metrics(tmp_path) == {"summary": {"r2": 0.9}, "train": {"epochs": 3},
                                     "evaluation": {"elbo": -12.5, "split": "test"}}
    keys, columns = compare_runs([tmp_path, tmp_path], everything=True)
    assert columns[str(tmp_path)]["evaluation.elbo"] == -12.5 and "evaluation.elbo" in keys
