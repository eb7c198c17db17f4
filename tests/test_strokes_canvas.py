"""Strokes on any canvas: characters in other units and with y up render, judge and plot like MNIST digits,
class names come from the data, and the mixture model's figures show positions, not pen offsets."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from seqvae.domains.strokes.data import (
    Canvas,
    handwritten_digits,
    render_batch,
    render_strokes,
    write_de_jong,
    writes_upward,
)

# Shape classes of block characters in a unit square with y UP (1 = top), each a list of strokes drawn in
# the order and direction people write them (top to bottom, left to right). Labels as a data set might
# number them: not 0-9.
_SHAPES: dict[int, list[list[tuple[float, float]]]] = {
    3: [[(0.1, 0.55), (0.9, 0.55)], [(0.5, 0.92), (0.5, 0.08)]],  # 十
    4: [[(0.2, 0.8), (0.8, 0.8)], [(0.25, 0.5), (0.75, 0.5)], [(0.08, 0.15), (0.92, 0.15)]],  # 三
    5: [[(0.2, 0.85), (0.2, 0.15)], [(0.2, 0.85), (0.8, 0.85), (0.8, 0.15)], [(0.2, 0.18), (0.8, 0.18)]],  # 口
    6: [[(0.5, 0.92), (0.45, 0.55), (0.12, 0.08)], [(0.47, 0.55), (0.65, 0.3), (0.9, 0.08)]],  # 人
    7: [[(0.25, 0.9), (0.22, 0.4), (0.1, 0.1)], [(0.5, 0.85), (0.5, 0.15)], [(0.8, 0.92), (0.8, 0.08)]],  # 川
    8: [[(0.1, 0.62), (0.9, 0.62)], [(0.5, 0.92), (0.45, 0.5), (0.1, 0.08)], [(0.5, 0.55), (0.9, 0.08)]],  # 大
    9: [[(0.5, 0.92), (0.5, 0.15), (0.4, 0.22)], [(0.28, 0.6), (0.15, 0.35)], [(0.7, 0.6), (0.85, 0.35)]],  # 小
    10: [[(0.25, 0.6), (0.75, 0.6)], [(0.5, 0.9), (0.5, 0.12)], [(0.08, 0.12), (0.92, 0.12)]],  # 土
}


def canvas_characters(
    n: int, seed: int = 0, size: float = 1024.0, y_up: bool = True
) -> tuple[list[np.ndarray], np.ndarray]:
    """``n`` block characters (absolute form, x, y, pen_up) on a ``size``-unit canvas, y up unless ``y_up`` is
    False (then image coordinates), with their shape-class labels (3..10, balanced): each character
    scaled, shifted, sheared and rotated a little, its strokes deformed and sampled every ~1/25 of the canvas."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.resize(np.array(sorted(_SHAPES)), n))
    out = []
    for label in labels:
        scale = rng.uniform(0.7, 0.95)
        a, shear = math.radians(rng.normal(0.0, 4.0)), rng.normal(0.0, 0.08)
        m = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) @ np.array([[1.0, shear], [0.0, 1.0]])
        shift = rng.uniform(0.0, 1.0 - scale, size=2)
        strokes = []
        for stroke in _SHAPES[int(label)]:
            ctrl = np.array(stroke) + rng.normal(0.0, 0.03, size=(len(stroke), 2))
            seg = np.hypot(*np.diff(ctrl, axis=0).T)
            s = np.concatenate([[0.0], np.cumsum(seg)])
            at = np.linspace(0.0, s[-1], max(3, int(round(s[-1] * 14)) + 1))
            pts = np.column_stack([np.interp(at, s, ctrl[:, 0]), np.interp(at, s, ctrl[:, 1])])
            pts = ((pts - 0.5) @ m.T + 0.5) * scale + shift
            strokes.append(np.clip(pts, 0.0, 1.0))
        xy = np.vstack(strokes) * size
        if not y_up:
            xy[:, 1] = size - xy[:, 1]
        pen = np.zeros(len(xy))
        pen[np.cumsum([len(s) for s in strokes]) - 1] = 1.0
        out.append(np.column_stack([xy, pen]).astype(np.float32))
    return out, labels.astype(np.int64)


def write_characters(directory: Path, n: int, seed: int = 0, size: float = 1024.0, prefix: str = "chars") -> Path:
    """The characters of :func:`canvas_characters` as de Jong files (zero-padded indices) in ``directory``."""
    chars, labels = canvas_characters(n, seed, size)
    write_de_jong(directory, chars, labels, prefix=prefix, index_width=5)
    return directory


# --------------------------------------------------------------------------- canvas and rasteriser


def test_canvas_measures_box_and_y_direction() -> None:
    chars, _ = canvas_characters(200, seed=1)
    canvas = Canvas.of(chars)
    assert canvas.y_up and writes_upward(chars)
    xy = np.concatenate(chars)[:, :2]
    assert canvas.x == (xy[:, 0].min(), xy[:, 0].max()) and canvas.y == (xy[:, 1].min(), xy[:, 1].max())
    assert 600 < canvas.extent <= 1024
    down, _ = canvas_characters(200, seed=1, y_up=False)
    assert not Canvas.of(down).y_up
    digits, _ = handwritten_digits(300, seed=0)
    assert not Canvas.of(digits).y_up  # MNIST's image coordinates
    assert Canvas.of(digits, y_up=True).y_up  # an explicit direction is kept


@pytest.mark.parametrize("fit", [True, False])
def test_rasteriser_does_not_depend_on_units_or_y_direction(fit: bool) -> None:
    """A drawing on a 1024-unit y-up canvas renders to the same image as the drawing scaled to 28 px y down."""
    chars, _ = canvas_characters(40, seed=2)
    to_px = np.array([28.0 / 1024.0, -28.0 / 1024.0])
    small = [np.column_stack([c[:, :2] * to_px + [0.0, 28.0], c[:, 2]]) for c in chars]
    big_canvas, small_canvas = Canvas.of(chars), Canvas.of(small)
    assert big_canvas.y_up and not small_canvas.y_up
    big = render_batch(chars, fit=fit, canvas=big_canvas)
    ref = render_batch(small, fit=fit, canvas=small_canvas)
    np.testing.assert_allclose(big, ref, atol=1e-4)
    assert (big.reshape(len(big), -1).sum(axis=1) > 20).all()  # every character is drawn, strokes and all
    # the same characters stored y down (image rows) give the same images: each is drawn the right way up
    mirrored = [c * [1, -1, 1] + [0, 1024, 0] for c in chars]
    np.testing.assert_allclose(render_batch(mirrored, fit=fit, canvas=Canvas.of(mirrored)), big, atol=1e-4)
    # and a character is not symmetric top to bottom, so ignoring the direction would change the image
    assert np.abs(render_strokes(chars[0], fit=fit) - big[0]).max() > 0.5


# --------------------------------------------------------------------------- the experiment on a 1024-unit y-up canvas


@pytest.fixture(scope="module")
def canvas_parts(tmp_path_factory):
    """What `seqvae experiment strokes --data DIR` builds from 166 block characters (classes 3..9, 20 each, and
    class 10 with 6: too few for the few-label study; zero-padded indices, prefix ``chars``): both models'
    data and (untrained) models, and the judge's images."""
    import torch

    from seqvae.data.sources import load_data
    from seqvae.domains.strokes import experiment as exp
    from seqvae.experiments.common import experiment_config
    from seqvae.models.base import build_model

    torch.manual_seed(0)
    chars, labels = canvas_characters(200, seed=3)
    keep = np.flatnonzero((labels != 10) | (np.cumsum(labels == 10) <= 6))
    directory = tmp_path_factory.mktemp("canvas") / "chars"
    write_de_jong(directory, [chars[i] for i in keep], labels[keep], prefix="chars", index_width=5)
    user = exp.data_overrides(directory)
    cfg = experiment_config(exp.NAME, 0, user, None, False)
    mdn_cfg = experiment_config(exp.MDN, 0, exp._mdn_overrides(user), None, False)
    parts = {}
    for name, c in (("stacked", cfg), ("mdn", mdn_cfg)):
        bundle = load_data(c.data, 0, sequences=True)
        parts[name] = (build_model(c.model, bundle.features).eval(), bundle)
    return parts, exp._JudgeData.render(parts["stacked"][1])


def test_judge_reads_characters_at_their_scale(canvas_parts) -> None:
    from seqvae.analysis.classifier import accuracy, fit_classifier

    parts, judge = canvas_parts
    assert judge.canvas.y_up and judge.canvas.extent > 600
    assert np.unique(judge.train_labels).tolist() == list(range(3, 11))  # labels as the files number them
    classifier = fit_classifier(judge.train_images, judge.train_labels)
    assert accuracy(classifier, judge.test_images, judge.test_labels) > 0.8


def test_few_label_study_on_any_class_set(canvas_parts, monkeypatch) -> None:
    from seqvae.domains.strokes import experiment as exp

    parts, judge = canvas_parts
    model, bundle = parts["stacked"]
    monkeypatch.setattr(exp, "SEEDS", 1)
    monkeypatch.setattr(exp, "AUGMENT_PER_DIGIT", 2)
    study = exp._augmentation(model, bundle, judge, 0, relative=False)
    classes, counts = np.unique(judge.train_labels, return_counts=True)
    assert counts[classes == 10][0] < exp.PER_CLASS <= counts[classes != 10].min()
    assert study["classes"] == list(range(3, 10)) and study["classes_left_out"] == [10]
    assert study["test_digits"] == int(np.sum(judge.test_labels != 10))
    assert len(study["baseline"]) == 1 and 0.0 <= study["augmented"][0] <= 1.0


@pytest.fixture(scope="module")
def canvas_figures(canvas_parts, tmp_path_factory):
    """Both models' figures as matplotlib Figures (not encoded), one neighbourhood sample per row."""
    from seqvae import plots
    from seqvae.domains.strokes import experiment as exp

    parts, judge = canvas_parts
    out = tmp_path_factory.mktemp("figures")
    figures: dict[str, object] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plots, "save_figure", lambda fig, path, *a, **k: figures.__setitem__(f"{path.parent.name}/{path.name}", fig))
        mp.setattr(exp, "save_learning_curves", lambda *a, **k: None)
        mp.setattr(exp, "NEIGHBOURS_SHOWN", 1)
        for name, relative in (("stacked", False), ("mdn", True)):
            (out / name).mkdir()
            model, bundle = parts[name]
            recons = [] if relative else exp._digits(bundle, "test")[0]
            exp._figures(out / name, model, bundle, recons, 0, relative, name, judge.canvas, "")
    return judge, figures


def _panel_lines(ax) -> list[np.ndarray]:
    return [np.asarray(line.get_xydata(), dtype=np.float64) for line in ax.get_lines()]


def test_figures_name_classes_and_show_the_characters_whole_and_upright(canvas_figures) -> None:
    judge, figures = canvas_figures
    fig = figures["stacked/neighbourhood.png"]
    rows = [ax for ax in fig.axes if ax.get_subplotspec().colspan.start == 0]
    assert [ax.get_ylabel().split("\n")[0] for ax in rows] == [str(c) for c in np.unique(judge.test_labels)]
    assert len(rows) >= 7  # classes as the files number them, one row each
    (x0, x1), (y0, y1) = judge.canvas.x, judge.canvas.y
    for name in ("stacked/reconstructions.png", "stacked/neighbourhood.png", "mdn/neighbourhood.png"):
        for originals in [ax for ax in figures[name].axes if ax.get_subplotspec().colspan.start == 0]:
            xlim, ylim = originals.get_xlim(), originals.get_ylim()
            assert ylim[0] < ylim[1]  # y up, as the data have it
            assert xlim[0] < x0 and xlim[1] > x1 and ylim[0] < y0 and ylim[1] > y1  # the whole canvas in view
            lines = _panel_lines(originals)
            assert len(lines) >= 2
            for line in lines:
                assert (line[:, 0] >= x0).all() and (line[:, 0] <= x1).all()
                assert (line[:, 1] >= y0).all() and (line[:, 1] <= y1).all()


def test_mixture_figures_draw_absolute_strokes(canvas_figures) -> None:
    """The mixture model reads pen offsets; its figures draw the originals' positions, the very strokes the
    stacked model's figure draws for the same test characters, not offsets fanning out from (0, 0)."""
    _, figures = canvas_figures
    stacked, mdn = figures["stacked/neighbourhood.png"], figures["mdn/neighbourhood.png"]
    firsts = [k for k, ax in enumerate(stacked.axes) if ax.get_subplotspec().colspan.start == 0]
    assert len(firsts) >= 7
    for k in firsts:
        want, got = _panel_lines(stacked.axes[k]), _panel_lines(mdn.axes[k])
        assert len(got) == len(want) >= 2  # one line per stroke
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=0, atol=1e-2)  # float32 sums of offsets on a 1024 canvas
        starts = np.array([g[0] for g in got])
        assert np.hypot(*starts.T).min() > 50  # positions on the canvas, not offsets near the origin
