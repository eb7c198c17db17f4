"""Pen-stroke digits: de Jong's file layout, pen-aware fixed length, rendering and the digit generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from seqvae.data.sequences import resample_random
from seqvae.domains.strokes.data import (
    MAIN_STYLE_STROKES,
    fix_length,
    handwritten_digits,
    read_de_jong,
    render_batch,
    render_strokes,
    split_strokes,
    stroke_count,
    stroke_table,
    strokes_to_absolute,
    strokes_to_relative,
    write_de_jong,
)
from seqvae.errors import DataError

torch.set_num_threads(1)

# two strokes: an L, then a single point, then a diagonal
DIGIT = np.array(
    [[5, 5, 0], [5, 9, 0], [8, 9, 1], [12, 4, 1], [14, 6, 0], [16, 8, 0], [20, 12, 1]], dtype=np.float32
)


@pytest.fixture(scope="module")
def digits() -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    return handwritten_digits(2000, seed=0)


def on_own_strokes(out: np.ndarray, original: np.ndarray, tol: float = 1e-5) -> bool:
    """Every point of ``out`` lies on the polyline of the same-numbered stroke of ``original``."""
    for got, ref in zip(split_strokes(out), split_strokes(original)):
        a, b = ref[:-1].astype(np.float64), ref[1:].astype(np.float64)
        if len(ref) == 1:
            a = b = ref.astype(np.float64)
        d = b - a
        norm = np.maximum((d * d).sum(axis=1), 1e-300)
        p = got.astype(np.float64)[:, None, :]
        t = np.clip(((p - a) * d).sum(axis=2) / norm, 0.0, 1.0)
        dist = np.linalg.norm(p - (a + t[..., None] * d), axis=2).min(axis=1)
        if dist.max() > tol:
            return False
    return True


# --------------------------------------------------------------------------- representation


def test_relative_and_absolute_forms_are_inverses(digits) -> None:
    rel = strokes_to_relative(DIGIT)
    np.testing.assert_array_equal(rel[0], [5, 5, 0])  # the start, from the origin
    np.testing.assert_array_equal(rel[3], [4, -5, 1])  # the jump to the lone point keeps its pen flag
    np.testing.assert_array_equal(strokes_to_absolute(rel), DIGIT)
    for seq in digits[0][:50]:
        np.testing.assert_allclose(strokes_to_absolute(strokes_to_relative(seq)), seq, atol=1e-5)
    with pytest.raises(ValueError, match="x, y, pen_up"):
        strokes_to_relative(np.zeros((4, 2)))


def test_strokes_split_at_pen_lifts() -> None:
    parts = split_strokes(DIGIT)
    assert [len(p) for p in parts] == [3, 1, 3] and stroke_count(DIGIT) == 3
    assert stroke_count(DIGIT[:2]) == 1  # the final point always ends a stroke
    table = stroke_table([DIGIT, DIGIT[:4]], {"digit": np.array([4, 1])})
    assert table.feature_names == ["x", "y", "pen_up"] and table.ids == ["digit-0", "digit-1"]
    assert table.sequences[1].dtype == np.float32 and len(table) == 2


# --------------------------------------------------------------------------- de Jong files


def test_write_then_read_round_trips_exactly(tmp_path: Path, digits) -> None:
    seqs, labels = digits[0][:12], digits[1]["digit"][:12]
    write_de_jong(tmp_path, seqs, labels, prefix="testimg")
    for use in ("inputdata", "points"):
        table = read_de_jong(tmp_path, "testimg", use=use)
        assert table.ids == [f"testimg-{i}" for i in range(12)]  # numeric order: 10 after 9
        assert table.feature_names == ["x", "y", "pen_up"]
        np.testing.assert_array_equal(table.labels["digit"], labels)
        for got, want in zip(table.sequences, seqs):
            assert got.dtype == np.float32 and got.shape == want.shape
            np.testing.assert_allclose(got, want, atol=1e-6)


def test_written_files_follow_de_jongs_layout(tmp_path: Path) -> None:
    write_de_jong(tmp_path, [DIGIT], [4], start_index=7)
    inputdata = (tmp_path / "trainimg-7-inputdata.txt").read_text().split("\n")
    assert inputdata[:4] == ["5 5 0 0", "0 4 0 0", "3 0 0 0", "0 0 1 0"]  # a marker row ends each stroke
    assert inputdata[-2:] == ["0 0 1 1", ""]
    points = (tmp_path / "trainimg-7-points.txt").read_text().split("\n")
    assert points[:6] == ["x,y", "5,5", "5,9", "8,9", "-1,-1", "12,4"]
    target = (tmp_path / "trainimg-7-targetdata.txt").read_text().split("\n")
    assert target[0] == "0 0 0 0 1 0 0 0 0 0 5 5 0 0" and len(target) == len(inputdata)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_reads_files_as_de_jong_wrote_them(tmp_path: Path) -> None:
    # a digit with two strokes, as de Jong's R code writes it (marker rows, integer pixels)
    write(tmp_path / "trainimg-0-inputdata.txt", "6 10 0 0\n1 0 0 0\n1 1 0 0\n0 0 1 0\n-3 5 0 0\n0 1 0 0\n0 0 1 1\n")
    write(tmp_path / "trainimg-0-targetdata.txt", "".join("0 0 0 0 0 0 0 1 0 0 0 0 0 0\n" for _ in range(7)))
    write(tmp_path / "trainimg-0-points.txt", "x,y\n6,10\n7,10\n8,11\n-1,-1\n5,16\n5,17\n")  # no trailing marker
    # the same digit, the pen lift flagged on the point rows themselves
    write(tmp_path / "trainimg-1-inputdata.txt", "6 10 0 0\n1 0 0 0\n1 1 1 0\n-3 5 0 0\n0 1 1 1\n")
    write(tmp_path / "trainimg-1-targetdata.txt", "0 0 0 0 0 0 0 1 0 0\n" * 5)
    write(tmp_path / "trainimg-1-points.txt", "x,y\n6,10\n7,10\n8,11\n-1,-1\n5,16\n5,17\n-2,-2\n")  # end marker
    want = np.array([[6, 10, 0], [7, 10, 0], [8, 11, 1], [5, 16, 0], [5, 17, 1]], dtype=np.float32)
    for use in ("inputdata", "points"):
        table = read_de_jong(tmp_path, use=use)
        assert table.labels["digit"].tolist() == [7, 7] and table.labels["digit"].dtype == np.int64
        for seq in table.sequences:
            np.testing.assert_array_equal(seq, want)


def test_limit_indices_and_labels(tmp_path: Path) -> None:
    write_de_jong(tmp_path, [DIGIT + [i, 0, 0] for i in range(5)], prefix="trainimg")
    table = read_de_jong(tmp_path, indices=[3, 1], limit=1)
    assert table.ids == ["trainimg-1"] and table.labels == {}  # no targetdata at all: no labels
    assert read_de_jong(tmp_path, limit=2).ids == ["trainimg-0", "trainimg-1"]
    write(tmp_path / "trainimg-0-targetdata.txt", "1 0 0 0 0 0 0 0 0 0\n")
    with pytest.raises(DataError, match=r"trainimg-1-targetdata\.txt: no such file"):
        read_de_jong(tmp_path)
    assert read_de_jong(tmp_path, indices=[0]).labels["digit"].tolist() == [0]
    with pytest.raises(DataError, match=r"trainimg-9-points\.txt: no such file"):
        read_de_jong(tmp_path, use="points", indices=[9])
    with pytest.raises(DataError, match="no files named testimg-<index>-inputdata.txt"):
        read_de_jong(tmp_path, "testimg")
    with pytest.raises(ValueError, match="use must be"):
        read_de_jong(tmp_path, use="images")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit"):
        read_de_jong(tmp_path, limit=0)
    with pytest.raises(ValueError, match="negative coordinates"):
        write_de_jong(tmp_path, [DIGIT - 6])
    with pytest.raises(ValueError, match="class numbers >= 0"):
        write_de_jong(tmp_path, [DIGIT], [-1])


def test_zero_padded_indices_read_back_exactly(tmp_path: Path, digits) -> None:
    seqs, labels = digits[0][:11], digits[1]["digit"][:11]
    ids = write_de_jong(tmp_path, seqs, labels, start_index=1, index_width=4)
    assert ids[0] == "trainimg-0001" and (tmp_path / "trainimg-0011-inputdata.txt").is_file()
    for use in ("inputdata", "points"):
        table = read_de_jong(tmp_path, use=use)
        assert table.ids == ids  # the index text as found, in numeric order
        np.testing.assert_array_equal(table.labels["digit"], labels)
        for got, want in zip(table.sequences, seqs):
            np.testing.assert_allclose(got, want, atol=1e-6)
    picked = read_de_jong(tmp_path, indices=[11, 2])  # by number, whatever the padding
    assert picked.ids == ["trainimg-0002", "trainimg-0011"]
    np.testing.assert_allclose(picked.sequences[1], seqs[10], atol=1e-6)
    assert read_de_jong(tmp_path, indices=["0003"]).ids == ["trainimg-0003"]
    with pytest.raises(DataError, match=r"trainimg-12-inputdata\.txt: no such file"):
        read_de_jong(tmp_path, indices=[12])


def test_any_prefix_reads_back_exactly(tmp_path: Path, digits) -> None:
    seqs, labels = digits[0][:5], digits[1]["digit"][:5]
    write_de_jong(tmp_path / "one", seqs, labels, prefix="hanzi-set-a")  # hyphens in the prefix too
    for prefix in (None, "hanzi-set-a"):  # the only prefix is found without being named
        table = read_de_jong(tmp_path / "one", prefix)
        assert table.ids == [f"hanzi-set-a-{i}" for i in range(5)]
        np.testing.assert_array_equal(table.labels["digit"], labels)
        for got, want in zip(table.sequences, seqs):
            np.testing.assert_allclose(got, want, atol=1e-6)
    with pytest.raises(DataError, match=r"no files named trainimg-<index>-inputdata\.txt.*prefix hanzi-set-a"):
        read_de_jong(tmp_path / "one", "trainimg")
    write_de_jong(tmp_path / "two", seqs[:2], labels[:2], prefix="chars")
    write_de_jong(tmp_path / "two", seqs[2:], labels[2:], prefix="extra")
    with pytest.raises(DataError, match=r"several prefixes \(chars, extra\).*data\.params\.prefix"):
        read_de_jong(tmp_path / "two")
    assert read_de_jong(tmp_path / "two", "extra").ids == ["extra-0", "extra-1", "extra-2"]
    write_de_jong(tmp_path / "two", seqs[:1], labels[:1], prefix="trainimg")  # de Jong's own pair of sets
    assert read_de_jong(tmp_path / "two").ids == ["trainimg-0"]


def test_any_number_of_classes(tmp_path: Path) -> None:
    """Labels as found: one-hot over as many columns as the files have (de Jong's digits: 10)."""
    labels = np.array([13, 0, 7, 13])
    write_de_jong(tmp_path, [DIGIT] * 4, labels, prefix="chars")
    assert (tmp_path / "chars-0-targetdata.txt").read_text().split("\n")[0].split()[:14] == ["0"] * 13 + ["1"]
    np.testing.assert_array_equal(read_de_jong(tmp_path).labels["digit"], labels)
    write(tmp_path / "chars-1-targetdata.txt", "0 1 0 0 0 0 0 5 5 0 0\n")  # 7 classes and the inputdata row
    assert read_de_jong(tmp_path).labels["digit"].tolist() == [13, 1, 7, 13]


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("inputdata", "", r"the file is empty"),
        ("inputdata", "1 2 0 0\n3 4 0\n", r"line 2 has 3 columns, expected 4"),
        ("inputdata", "1 2 0 0\n\n3 x 0 1\n", r"line 3, column 2: 'x' is not a number"),
        ("inputdata", "1 2 0 0\n3 nan 0 1\n", r"line 2, column 2: 'nan' is not a finite number"),
        ("inputdata", "1 2 0 1\n3 4 0 1\n", r"line 1: eod is 1 before the last row"),
        ("inputdata", "1 2 0 0\n3 4 0 0\n", r"line 2: eod is 0 on the last row"),
        ("inputdata", "1 2 2 0\n3 4 0 1\n", r"line 1, column 3 \(eos\): 2, expected 0 or 1"),
        ("targetdata", "0 0 1 0 0 0 0 0 0 0\n0 0 0 1 0 0 0 0 0 0\n", r"line 2: label 3, but line 1 says 2"),
        ("targetdata", "0 0 1 0 0 0 0 1 0 0 5 5 0 0\n", r"line 1: .* not a one-hot label"),
        ("targetdata", "0 0 1 0 0\n", r"line 1 has 5 columns, expected at least 10"),
        ("points", "a,b,c\n1,2\n", r"line 1: header 'a,b,c', expected 'x,y'"),
        ("points", "x,y\n1,2\n-1,3\n", r"line 3: '-1,3' has one negative coordinate"),
        ("points", "x,y\n1,2\n3\n", r"line 3 has 1 columns, expected 2"),
        ("points", "x,y\n-1,-1\n", r"no points, only pen lifts"),
    ],
)
def test_bad_files_name_the_file_and_line(tmp_path: Path, kind: str, text: str, message: str) -> None:
    write_de_jong(tmp_path, [DIGIT], [3])
    path = write(tmp_path / f"trainimg-0-{kind}.txt", text)
    with pytest.raises(DataError, match=message) as err:
        read_de_jong(tmp_path, use="points" if kind == "points" else "inputdata")
    assert str(path) in str(err.value)


# --------------------------------------------------------------------------- fixed length


@pytest.mark.parametrize("length", [3, 5, 6, 12, 60])
@pytest.mark.parametrize("method", ["random", "linear"])
def test_fix_length_keeps_ends_strokes_and_paths(length: int, method: str) -> None:
    out = fix_length(DIGIT, length, method, rng=np.random.default_rng(length))
    assert out.shape == (length, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0, :2], DIGIT[0, :2])
    np.testing.assert_array_equal(out[-1, :2], DIGIT[-1, :2])
    assert out[-1, 2] == 1.0 and set(np.unique(out[:, 2])) <= {0.0, 1.0}
    assert stroke_count(out) == 3  # 3 strokes fit in 3 points or more
    assert on_own_strokes(out, DIGIT)


def test_fix_length_random_on_generated_digits(digits) -> None:
    rng = np.random.default_rng(5)
    for seq in digits[0][:300]:
        for length in (20, 60):
            out = fix_length(seq, length, "random", rng)
            assert len(out) == length and stroke_count(out) == stroke_count(seq)
            np.testing.assert_array_equal(out[[0, -1], :2], seq[[0, -1], :2])
            assert on_own_strokes(out, seq)


def test_fix_length_never_bridges_a_pen_lift() -> None:
    two = np.array([[0, 0, 0], [1, 0, 1], [20, 0, 0], [21, 0, 1]], dtype=np.float32)
    out = fix_length(two, 40, "random", rng=0)
    assert not ((out[:, 0] > 1) & (out[:, 0] < 20)).any()
    assert stroke_count(out) == 2
    lone = np.array([[3, 3, 1], [9, 9, 1]], dtype=np.float32)  # no drawn segment: points repeat in place
    out = fix_length(lone, 6, "random", rng=0)
    assert stroke_count(out) == 2 and on_own_strokes(out, lone)


def test_fix_length_random_is_the_sources_scheme_on_one_stroke() -> None:
    one = np.column_stack([np.arange(10.0), np.arange(10.0) ** 1.5, np.r_[np.zeros(9), 1.0]]).astype(np.float32)
    for length in (4, 10, 25):
        out = fix_length(one, length, "random", np.random.default_rng(3))
        np.testing.assert_array_equal(out[:, :2], resample_random(one[:, :2], length, np.random.default_rng(3)))
        assert out[:, 2].tolist() == [0.0] * (length - 1) + [1.0]


def test_fix_length_is_seeded() -> None:
    a = fix_length(DIGIT, 30, "random", rng=np.random.default_rng(1))
    b = fix_length(DIGIT, 30, "random", rng=np.random.default_rng(1))
    c = fix_length(DIGIT, 30, "random", rng=np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(fix_length(DIGIT, 30), fix_length(DIGIT, 30))


def test_fix_length_linear_spaces_points_evenly() -> None:
    line = np.array([[0, 0, 0], [10, 0, 0], [10, 10, 1]], dtype=np.float32)
    out = fix_length(line, 21, "linear")
    np.testing.assert_allclose(np.linalg.norm(np.diff(out[:, :2], axis=0), axis=1), 1.0, atol=1e-5)
    # points go where the spacing is widest: 30 / 18 and 3 / 2 px
    two = np.array([[0, 0, 0], [30, 0, 1], [0, 5, 0], [3, 5, 1]], dtype=np.float32)
    out = fix_length(two, 22, "linear")
    assert [len(s) for s in split_strokes(out)] == [19, 3]
    assert stroke_count(fix_length(two, 3, "linear")) == 2  # one point for a stroke when short
    assert stroke_count(fix_length(DIGIT, 2, "linear")) == 1  # fewer points than strokes: one stroke
    with pytest.raises(ValueError, match="method"):
        fix_length(DIGIT, 10, "cubic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 2"):
        fix_length(DIGIT, 1)


# --------------------------------------------------------------------------- rendering


def test_render_lights_the_segment_and_not_the_jump() -> None:
    stroke = np.array([[4, 10, 0], [20, 10, 1], [4, 20, 0], [20, 20, 1]], dtype=np.float32)
    image = render_strokes(stroke, fit=False)
    assert image.shape == (28, 28) and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    np.testing.assert_array_equal(image[10, 4:21], 1.0)
    np.testing.assert_array_equal(image[20, 4:21], 1.0)
    assert image[11:20].max() == 0.0  # the jump from (20, 10) to (4, 20) is not drawn
    assert image[:, :3].max() == 0.0 and image[:, 22:].max() == 0.0
    thick = render_strokes(stroke, fit=False, thickness=3.0)
    assert thick[9, 10] == 1.0 and thick[11, 10] == 1.0 and thick[13, 10] == 0.0


def test_render_fit_keeps_the_aspect_ratio() -> None:
    box = np.array([[0, 0, 0], [10, 0, 0], [10, 5, 0], [0, 5, 0], [0, 0, 1]], dtype=np.float32)
    image = render_strokes(box, size=56, fit=True, pad=4)
    rows, cols = np.nonzero(image > 0.5)
    width, height = cols.max() - cols.min(), rows.max() - rows.min()
    assert width == 56 - 1 - 8 and abs(width / height - 2.0) < 0.1
    assert abs((rows.min() + rows.max()) / 2 - 27.5) <= 0.5  # centred
    batch = render_batch([box, DIGIT], size=20)
    assert batch.shape == (2, 20, 20) and batch.dtype == np.float32
    assert ((batch >= 0) & (batch <= 1)).all() and (batch.reshape(2, -1).max(axis=1) > 0.5).all()


# --------------------------------------------------------------------------- generator


def test_generator_is_seeded() -> None:
    a, la = handwritten_digits(40, seed=3)
    b, lb = handwritten_digits(40, seed=3)
    c, _ = handwritten_digits(40, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert all(np.array_equal(la[k], lb[k]) for k in la)
    assert not all(len(x) == len(y) and np.array_equal(x, y) for x, y in zip(a, c))


def test_generated_digits_look_like_de_jongs(digits) -> None:
    seqs, labels = digits
    assert labels["digit"].dtype == np.int64 and len(labels["digit"]) == len(seqs) == 2000
    assert np.bincount(labels["digit"], minlength=10).min() == 200  # balanced, every class
    lengths = np.array([len(s) for s in seqs])
    assert lengths.min() >= 10 and lengths.max() <= 100 and lengths.std() > 5
    assert 30 <= np.median(lengths) <= 50
    allpts = np.concatenate(seqs)
    assert allpts.dtype == np.float32 and allpts[:, :2].min() >= 0 and allpts[:, :2].max() < 28
    assert np.percentile(allpts[:, :2], 1) > 3 and np.percentile(allpts[:, :2], 99) < 25
    assert all(s[-1, 2] == 1.0 for s in seqs)
    assert np.array_equal(labels["strokes"], [stroke_count(s) for s in seqs])
    gaps = np.concatenate([np.linalg.norm(np.diff(p, axis=0), axis=1) for s in seqs for p in split_strokes(s)])
    assert 0.8 < np.median(gaps) < 2.0 and np.percentile(gaps, 99) < 3.5


def test_the_pen_slows_at_stroke_ends(digits) -> None:
    ends, middles = [], []
    for seq in digits[0][:500]:
        for stroke in split_strokes(seq):
            gaps = np.linalg.norm(np.diff(stroke, axis=0), axis=1)
            if len(gaps) >= 12:
                ends.extend([gaps[0], gaps[-1]])
                middles.extend(gaps[len(gaps) // 2 - 2 : len(gaps) // 2 + 2])
    assert np.mean(ends) < 0.85 * np.mean(middles)


def test_main_styles_have_their_strokes(digits) -> None:
    _, labels = digits
    for digit, strokes in MAIN_STYLE_STROKES.items():
        main = (labels["digit"] == digit) & (labels["style"] == 0)
        assert main.sum() > 50
        assert (labels["strokes"][main] == strokes).all(), digit
    assert MAIN_STYLE_STROKES[4] == MAIN_STYLE_STROKES[5] == 2


def test_generator_with_fixed_length() -> None:
    free, labels = handwritten_digits(60, classes=[4, 5, 7], seed=1)
    fixed, fixed_labels = handwritten_digits(60, classes=[4, 5, 7], length=50, seed=1)
    assert set(labels["digit"].tolist()) == {4, 5, 7}
    assert all(s.shape == (50, 3) for s in fixed)
    np.testing.assert_array_equal(labels["strokes"], fixed_labels["strokes"])
    for a, b in zip(free, fixed):
        np.testing.assert_array_equal(a[[0, -1]], b[[0, -1]])
        assert on_own_strokes(b, a)
    with pytest.raises(ValueError, match="classes"):
        handwritten_digits(5, classes=[10])


def test_classes_are_separable_but_not_trivially(digits) -> None:
    from sklearn.neighbors import KNeighborsClassifier

    seqs, labels = digits
    images = render_batch(seqs, thickness=1.5, fit=False).reshape(len(seqs), -1)
    y = labels["digit"]
    accuracy = KNeighborsClassifier(5).fit(images[:1500], y[:1500]).score(images[1500:], y[1500:])
    assert 0.75 <= accuracy <= 0.995
