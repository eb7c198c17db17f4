"""The report's data views come from the domains' registrations: which view a run gets, and what it draws."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from seqvae.report import VIEWS, _view


def _loaded(kind: str, sequences: bool, video: bool = False, to_relative: tuple = ()) -> SimpleNamespace:
    model = SimpleNamespace(video_input=video, sequence_input=sequences)
    run = SimpleNamespace(data=SimpleNamespace(kind=kind, sequence=SimpleNamespace(to_relative=to_relative)))
    return SimpleNamespace(model=model, run=run)


@pytest.mark.parametrize(
    ("kind", "sequences", "features", "view"),
    [
        ("basketball", True, 3, "court"),
        ("sportvu", True, 3, "court"),
        ("basketball", True, 2, "paths"),  # not the court's x, y, z: the generic view
        ("de-jong", True, 3, "strokes"),
        ("handwritten-digits", True, 3, "strokes"),
        ("polymer", False, 24, "chains"),
        ("polymer", False, 23, "vectors"),  # an odd count is no set of 2-D beads
        ("polymer", True, 24, "paths"),  # the chain view draws vectors only
        ("sinusoids", True, 1, "series"),
        ("file", True, 3, "paths3d"),
        ("gaussian-mixture", False, 2, "vectors"),
    ],
)
def test_each_run_gets_its_domains_view(kind: str, sequences: bool, features: int, view: str) -> None:
    assert _view(_loaded(kind, sequences), SimpleNamespace(features=features)) == view


def test_video_models_get_the_video_view_whatever_the_kind() -> None:
    assert _view(_loaded("basketball", False, video=True), SimpleNamespace(features=3)) == "video"


def test_the_views_draw_what_their_domains_hold() -> None:
    assert {"court", "strokes", "chains"} <= set(VIEWS)
    court, strokes, chains = VIEWS["court"], VIEWS["strokes"], VIEWS["chains"]
    assert court.label_units.get("start_x") == "m" and court.ramp is not None
    shots = [np.column_stack([np.linspace(7, 0, 20), np.zeros(20), 2 + np.sin(np.linspace(0, 3, 20))])]
    ctx = SimpleNamespace(run=_loaded("basketball", True).run)
    fig = court.draw(ctx, shots, "shots", None, None, None)
    assert any("from the basket" in ax.get_xlabel() for ax in fig.axes)  # drawn on the half court
    digit = np.zeros((10, 3))
    digit[:, 0], digit[-1, 2] = 1.0, 1.0  # ten steps right, then the pen lifts
    fig = strokes.draw(SimpleNamespace(run=_loaded("de-jong", True, to_relative=(0, 1)).run), [digit], "digits", None, None, None)
    assert sum(1 for ax in fig.axes if ax.lines or ax.collections) == 1  # one digit, one panel
    values = np.arange(12, dtype=np.float64).reshape(1, 12)
    items = chains.items(SimpleNamespace(to_data=lambda v: v * 2.0), values)
    assert len(items) == 1 and items[0].shape == (6, 2) and items[0][1].tolist() == [4.0, 6.0]
