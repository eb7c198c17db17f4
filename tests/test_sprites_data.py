"""Sprites-style videos: the procedural generator and the release .npy reader / writer."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from seqvae.domains.sprites.data import (
    ACTIONS,
    ATTRIBUTES,
    DIRECTIONS,
    LABELS,
    MOTIONS,
    N_OPTIONS,
    read_sprites_npy,
    render_sprite,
    sprite_videos,
    write_sprites_npy,
)
from seqvae.errors import DataError

CHARACTER = {"skin": 1, "top": 2, "bottom": 3, "hair": 4}
PLAIN = {"skin": 0, "top": 0, "bottom": 0, "hair": 0}


def action(motion: str, direction: str) -> int:
    return 3 * MOTIONS.index(motion) + DIRECTIONS.index(direction)


@pytest.fixture(scope="module")
def small() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    return sprite_videos(40, size=32, seed=5)


# --------------------------------------------------------------------------- generator


def test_shapes_dtypes_and_ranges(small) -> None:
    x, labels = small
    assert x.shape == (40, 8, 32, 32, 3) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.5
    assert tuple(labels) == LABELS
    for name, high in [*((a, N_OPTIONS) for a in ATTRIBUTES), ("action", ACTIONS), ("motion", 3), ("direction", 3)]:
        assert labels[name].dtype == np.int64 and labels[name].shape == (40,)
        assert labels[name].min() >= 0 and labels[name].max() < high
    big, _ = sprite_videos(2, size=64, frames=5, seed=0)
    assert big.shape == (2, 5, 64, 64, 3) and big.dtype == np.float32
    assert render_sprite(CHARACTER, 4, size=48).shape == (8, 48, 48, 3)


def test_seeded_determinism(small) -> None:
    x, labels = small
    again, labels_again = sprite_videos(40, size=32, seed=5)
    assert np.array_equal(x, again)
    assert all(np.array_equal(labels[k], labels_again[k]) for k in LABELS)
    other, labels_other = sprite_videos(40, size=32, seed=6)
    assert not np.array_equal(x, other)
    assert not np.array_equal(labels["action"], labels_other["action"])


def test_labels_uniform_and_action_is_motion_times_three_plus_direction() -> None:
    _, labels = sprite_videos(1800, size=8, seed=1, jitter=0.0)
    assert np.array_equal(labels["action"], 3 * labels["motion"] + labels["direction"])
    for name, classes in [*((a, N_OPTIONS) for a in ATTRIBUTES), ("action", ACTIONS)]:
        counts = np.bincount(labels[name], minlength=classes)
        expected = 1800 / classes
        assert counts.min() > 0.75 * expected and counts.max() < 1.25 * expected, (name, counts)


def test_without_jitter_videos_equal_render_sprite_and_jitter_moves_them() -> None:
    exact, labels = sprite_videos(12, size=32, seed=2, jitter=0.0)
    jittered, labels_j = sprite_videos(12, size=32, seed=2, jitter=1.0)
    assert all(np.array_equal(labels[k], labels_j[k]) for k in LABELS)
    for i in range(12):
        attrs = {name: int(labels[name][i]) for name in ATTRIBUTES}
        assert np.array_equal(exact[i], render_sprite(attrs, int(labels["action"][i]), size=32))
    assert not np.array_equal(exact, jittered)
    # small perturbations: the characters stay where they were, give or take a pixel
    assert np.abs(exact - jittered).mean() < 0.05
    assert jittered.min() >= 0.0 and jittered.max() <= 1.0


@pytest.mark.parametrize("act", range(ACTIONS))
def test_every_action_moves_over_the_frames(act: int) -> None:
    video = render_sprite(CHARACTER, act, size=32)
    change = np.abs(video - video[:1]).mean(axis=(1, 2, 3))
    assert change.max() > 0.01, change  # not one still frame repeated
    steps = np.abs(np.diff(video, axis=0)).mean(axis=(1, 2, 3))
    assert (steps[:3] > 0.003).all(), steps  # the motion starts right away


def test_single_frames_can_be_ambiguous_but_videos_are_not() -> None:
    for direction in DIRECTIONS:
        cast = render_sprite(CHARACTER, action("spellcast", direction), size=32)
        slash = render_sprite(CHARACTER, action("slash", direction), size=32)
        assert np.array_equal(cast[0], slash[0])  # both start from the same standing pose
        assert np.abs(cast - slash).mean() > 0.005


@pytest.mark.parametrize("motion", MOTIONS)
def test_right_is_the_mirror_image_of_left(motion: str) -> None:
    for character in (CHARACTER, {"skin": 4, "top": 5, "bottom": 4, "hair": 3}):
        left = render_sprite(character, action(motion, "left"), size=32)
        right = render_sprite(character, action(motion, "right"), size=32)
        assert np.allclose(left[:, :, ::-1], right, atol=1e-6)
        assert np.abs(left - right).mean() > 0.01  # and the profile itself is not symmetric


def test_front_view_faces_the_viewer() -> None:
    front = render_sprite(PLAIN, action("spellcast", "front"), size=32)[0]
    left = render_sprite(PLAIN, action("spellcast", "left"), size=32)[0]
    assert np.allclose(front, front[:, ::-1], atol=1e-6)  # standing pose seen from the front is symmetric
    assert np.abs(left - left[:, ::-1]).mean() > 0.01
    # the torso (and the arms beside it) is much wider from the front than in profile
    torso = slice(15, 19)  # canvas y 30..38 at 32 px

    def width(image: np.ndarray) -> int:
        return int((image[torso].sum(axis=(0, 2)) > 0.05).sum())

    assert width(front) >= width(left) + 3, (width(front), width(left))


# rows (in 64-canvas units) where each attribute may show in the walk-front pose with arms down
REGIONS = {"top": (24.0, 45.0), "bottom": (37.0, 62.0), "hair": (0.0, 32.0)}


@pytest.mark.parametrize("name", sorted(REGIONS))
def test_attributes_change_only_their_body_part(name: str) -> None:
    size = 32
    rows = (np.arange(size) + 0.5) * 64.0 / size
    lo, hi = REGIONS[name]
    inside = (rows >= lo) & (rows <= hi)
    base = render_sprite(PLAIN, action("walk", "front"), size=size)
    for option in range(1, N_OPTIONS):
        other = render_sprite({**PLAIN, name: option}, action("walk", "front"), size=size)
        per_row = np.abs(other - base).sum(axis=(0, 2, 3))
        assert per_row.sum() > 50.0, (name, option)
        assert per_row[~inside].sum() < 1e-3 * per_row.sum(), (name, option)


@pytest.mark.parametrize("name", ATTRIBUTES)
def test_every_pair_of_options_renders_differently(name: str) -> None:
    videos = [render_sprite({**CHARACTER, name: k}, action("spellcast", "front"), size=32) for k in range(N_OPTIONS)]
    for (i, a), (j, b) in itertools.combinations(enumerate(videos), 2):
        assert np.abs(a - b).mean() > 0.003, (name, i, j)


def _features(videos: np.ndarray, bins: int = 5) -> np.ndarray:
    """4x4-pooled pixels plus a coarse RGB histogram (shift-invariant colour content), per video."""
    n, t, s, _, c = videos.shape
    pixels = videos.reshape(n, t, s // 4, 4, s // 4, 4, c).mean(axis=(3, 5)).reshape(n, -1)
    q = np.minimum((videos * bins).astype(np.int64), bins - 1)
    code = ((q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]).reshape(n, -1)
    hist = np.stack([np.bincount(row, minlength=bins**3) for row in code]).astype(np.float64)
    hist[:, 0] = 0.0  # background
    return np.hstack([pixels, 3.0 * np.sqrt(hist / hist.sum(axis=1, keepdims=True))])


def test_actions_and_attributes_are_linearly_separable() -> None:
    x, y = sprite_videos(400, size=32, seed=3)
    x_test, y_test = sprite_videos(200, size=32, seed=4)
    f, f_test = _features(x), _features(x_test)
    for name in (*ATTRIBUTES, "action"):
        clf = LogisticRegression(max_iter=300).fit(f, y[name])
        accuracy = (clf.predict(f_test) == y_test[name]).mean()
        assert accuracy >= 0.9, (name, accuracy)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="hair"):
        render_sprite({"skin": 0, "top": 0, "bottom": 0}, 0)
    with pytest.raises(ValueError, match="0..5"):
        render_sprite({**PLAIN, "top": 6}, 0)
    with pytest.raises(ValueError, match="action"):
        render_sprite(PLAIN, 9)
    with pytest.raises(ValueError, match="jitter"):
        sprite_videos(2, size=16, jitter=-1.0)


# --------------------------------------------------------------------------- release files


@pytest.mark.parametrize(
    "one_hot, as_uint8, channels_first",
    [(True, False, False), (False, False, False), (True, True, False), (False, True, True), (True, False, True)],
)
def test_release_files_round_trip(tmp_path: Path, small, one_hot: bool, as_uint8: bool, channels_first: bool) -> None:
    x, labels = small
    frames = np.round(x * 255).astype(np.uint8) if as_uint8 else x
    write_sprites_npy(tmp_path, frames, labels, split="test", one_hot=one_hot, channels_first=channels_first)
    got, got_labels = read_sprites_npy(tmp_path, split="test")
    assert got.dtype == np.float32 and got.shape == x.shape
    expected = frames.astype(np.float32) / np.float32(255) if as_uint8 else x
    assert np.array_equal(got, expected)
    assert tuple(got_labels) == LABELS
    for name in LABELS:
        assert got_labels[name].dtype == np.int64 and np.array_equal(got_labels[name], labels[name]), name


def test_written_labels_follow_the_release_layout(tmp_path: Path) -> None:
    x = np.zeros((3, 8, 16, 16, 3), dtype=np.float32)
    labels = {
        "skin": np.array([0, 1, 2]), "top": np.array([3, 4, 5]), "bottom": np.array([5, 0, 1]),
        "hair": np.array([2, 2, 3]), "motion": np.array([0, 1, 2]), "direction": np.array([0, 1, 2]),
    }  # fmt: skip
    paths = write_sprites_npy(tmp_path, x, labels)
    a = np.load(paths["A"], allow_pickle=False)
    d = np.load(paths["D"], allow_pickle=False)
    assert a.shape == (3, 8, 4, 6) and d.shape == (3, 8, 9)
    # columns body, bottom, top, hair; directions numbered front, left, right
    assert np.array_equal(a[:, 0].argmax(-1), np.stack([labels[k] for k in ("skin", "bottom", "top", "hair")], 1))
    assert d[:, 0].argmax(-1).tolist() == [1, 3, 8]  # walk-left, spellcast-front, slash-right


def _write(tmp_path: Path, n: int = 4, **override: np.ndarray) -> Path:
    x, labels = sprite_videos(n, size=16, seed=0, jitter=0.0)
    paths = write_sprites_npy(tmp_path, x, labels)
    for key, arr in override.items():
        np.save(paths[key], arr, allow_pickle=False)
    return tmp_path


def test_label_files_are_optional(tmp_path: Path) -> None:
    x, labels = sprite_videos(4, size=16, seed=0, jitter=0.0)
    write_sprites_npy(tmp_path, x, labels)
    (tmp_path / "sprites_D_train.npy").unlink()
    frames, got = read_sprites_npy(tmp_path)  # attributes only
    assert np.array_equal(frames, x) and tuple(got) == ATTRIBUTES
    assert all(np.array_equal(got[k], labels[k]) for k in ATTRIBUTES)
    (tmp_path / "sprites_A_train.npy").unlink()
    frames, got = read_sprites_npy(tmp_path)  # unlabelled videos
    assert np.array_equal(frames, x) and got == {}
    write_sprites_npy(tmp_path, x, labels)
    (tmp_path / "sprites_A_train.npy").unlink()
    _, got = read_sprites_npy(tmp_path)  # actions only
    assert tuple(got) == ("action", "motion", "direction") and np.array_equal(got["action"], labels["action"])


def test_missing_files_are_listed(tmp_path: Path) -> None:
    _write(tmp_path)
    with pytest.raises(DataError, match=r"missing sprites_X_test\.npy .*sprites_A_test\.npy and sprites_D_test\.npy"):
        read_sprites_npy(tmp_path, split="test")
    with pytest.raises(DataError, match=r"nowhere: no such file or directory"):
        read_sprites_npy(tmp_path / "nowhere")
    with pytest.raises(DataError, match="not a directory"):
        read_sprites_npy(tmp_path / "sprites_X_train.npy")


def test_mismatched_counts_are_refused(tmp_path: Path) -> None:
    a = np.zeros((5, 8, 4, 6), dtype=np.float32)
    a[..., 0] = 1.0
    _write(tmp_path, A=a)
    with pytest.raises(DataError, match=r"sprites_A_train\.npy: labels for 5 videos.*holds 4 videos"):
        read_sprites_npy(tmp_path)


def test_labels_that_are_not_one_hot_are_refused(tmp_path: Path) -> None:
    d = np.zeros((4, 8, 9), dtype=np.float32)
    d[:, :, 2] = 1.0
    d[1, 3, 5] = 1.0  # two ones in one row
    _write(tmp_path, D=d)
    with pytest.raises(DataError, match=r"sprites_D_train\.npy: action row at index \(1, 3\) is not one-hot"):
        read_sprites_npy(tmp_path)
    d[1, 3, 5] = 0.0
    d[2, 6, 2] = 0.5
    _write(tmp_path, D=d)
    with pytest.raises(DataError, match=r"index \(2, 6\) is not one-hot"):
        read_sprites_npy(tmp_path)


def test_labels_must_agree_across_frames(tmp_path: Path) -> None:
    a = np.zeros((4, 8, 4, 6), dtype=np.float32)
    a[..., 0] = 1.0
    a[2, 5, 3] = [0, 1, 0, 0, 0, 0]
    _write(tmp_path, A=a)
    with pytest.raises(DataError, match=r"sprites_A_train\.npy: attributes differ between the frames of video 2"):
        read_sprites_npy(tmp_path)


def test_bad_shapes_and_integer_ranges_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, X=np.zeros((4, 8, 16, 16), dtype=np.float32))
    with pytest.raises(DataError, match=r"sprites_X_train\.npy: frames have shape \(4, 8, 16, 16\)"):
        read_sprites_npy(tmp_path)
    _write(tmp_path, A=np.zeros((4, 3), dtype=np.int64))
    with pytest.raises(DataError, match=r"sprites_A_train\.npy: attributes have shape \(4, 3\)"):
        read_sprites_npy(tmp_path)
    _write(tmp_path, D=np.array([0, 3, 9, 1]))
    with pytest.raises(DataError, match=r"sprites_D_train\.npy: actions must lie in 0\.\.8"):
        read_sprites_npy(tmp_path)


def test_nan_and_out_of_range_frames_are_refused(tmp_path: Path) -> None:
    x, _ = sprite_videos(4, size=16, seed=0, jitter=0.0)
    bad = x.copy()
    bad[3, 2, 5, 5, 1] = np.nan
    _write(tmp_path, X=bad)
    with pytest.raises(DataError, match=r"sprites_X_train\.npy: frames contain NaN.*video 3"):
        read_sprites_npy(tmp_path)
    _write(tmp_path, X=x * 255.0)  # float frames still on the 0..255 scale
    with pytest.raises(DataError, match=r"sprites_X_train\.npy: float frames must lie in \[0, 1\]"):
        read_sprites_npy(tmp_path)
    _write(tmp_path, X=(x * 255).astype(np.int16))
    with pytest.raises(DataError, match="dtype int16"):
        read_sprites_npy(tmp_path)


UNPICKLED: list[str] = []


def _record(tag: str) -> str:
    UNPICKLED.append(tag)
    return tag


class _Payload:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_record, ("unpickled",))


def test_pickled_object_arrays_are_refused_without_unpickling(tmp_path: Path) -> None:
    _write(tmp_path)
    payload = np.empty((4,), dtype=object)
    payload[:] = [_Payload() for _ in range(4)]
    np.save(tmp_path / "sprites_D_train.npy", payload, allow_pickle=True)
    with pytest.raises(DataError, match=r"sprites_D_train\.npy: holds a Python object array"):
        read_sprites_npy(tmp_path)
    assert UNPICKLED == []
    np.save(tmp_path / "sprites_X_train.npy", payload, allow_pickle=True)
    with pytest.raises(DataError, match=r"sprites_X_train\.npy: holds a Python object array"):
        read_sprites_npy(tmp_path)
    assert UNPICKLED == []
