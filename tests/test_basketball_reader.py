"""SportVU / NBA-movement reader: simulated shots laid out on a game clock in court feet are cut back exactly."""

from __future__ import annotations

import csv
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from seqvae.domains.basketball.data import (
    FEET,
    FRAME_RATE,
    court_to_hoop,
    flight_end,
    hoop_to_court,
    nearest_hoop,
    read_sportvu,
    simulate_shots,
    sportvu_shots,
)
from seqvae.errors import DataError

GAME = "0021500001"
N_SHOTS = 8
HOOPS = ["left", "right"] * (N_SHOTS // 2)
QUARTERS = [1] * (N_SHOTS // 2) + [2] * (N_SHOTS // 2)
MADE_TEXT = {1: ["1", "true", "Made", "TRUE"], 0: ["0", "false", "missed", "MISSED"]}
MOMENT_HEADER = ["game_id", "quarter", "game_clock", "shot_clock", "ball_x", "ball_y", "ball_z", "ball_radius"]


@pytest.fixture(scope="module")
def shots() -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    return simulate_shots(n=N_SHOTS, seed=3)


def _layout(
    trajectories: list[np.ndarray], hoops: list[str], quarters: list[int], lead: int = 20, hold: int = 5, pad: int = 15
) -> tuple[list[tuple[int, int, float, float, float]], list[int]]:
    """Moments ``(quarter, clock in centiseconds, X, Y, Z feet)`` of the shots on a game clock, and release clocks.

    Before each shot the ball is dribbled at half court, then held near the release point; after it the ball
    keeps flying (falling to the floor), so only the end rule can stop a cut at the simulated length.
    """
    clock = {q: 72000 for q in quarters}  # 720.00 s left in each quarter
    rows: list[tuple[int, int, float, float, float]] = []
    releases = []

    def add(q: int, point: np.ndarray) -> None:
        rows.append((q, clock[q], float(point[0]), float(point[1]), float(point[2])))
        clock[q] -= 4  # one frame: 0.04 s

    for traj, hoop, q in zip(trajectories, hoops, quarters):
        metres = traj.astype(np.float64)
        for k in range(lead):
            add(q, np.array([47.0 + 2 * math.sin(k), 25.0 + 5 * math.cos(k / 3), 1.0 + 2 * abs(math.sin(0.7 * k))]))
        for k in range(hold):
            held = metres[0] - np.array([0.0, 0.0, 0.06 * (hold - k)])
            add(q, hoop_to_court(held, hoop))
        releases.append(clock[q])
        for point in metres:
            add(q, hoop_to_court(point, hoop))
        velocity = (metres[-1] - metres[-2]) * FRAME_RATE
        for k in range(1, pad + 1):
            t = k / FRAME_RATE
            after = metres[-1] + velocity * t - np.array([0.0, 0.0, 0.5 * 9.81 * t * t])
            after[2] = max(after[2], 0.12)
            add(q, hoop_to_court(after, hoop))
    return rows, releases


def _write_moments(path: Path, rows, *, game: str | None = GAME, duplicates: int = 0, seed: int = 0) -> Path:
    """Moments CSV in shuffled order with ``duplicates`` repeated rows; positions with 9 decimals (feet)."""
    rng = np.random.default_rng(seed)
    out = list(rows) + [rows[i] for i in rng.choice(len(rows), duplicates, replace=False)]
    order = rng.permutation(len(out))
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(MOMENT_HEADER if game is not None else MOMENT_HEADER[1:])
        for i in order:
            q, c, x, y, z = out[i]
            row = [q, f"{c / 100:.2f}", "24.0", f"{x:.9f}", f"{y:.9f}", f"{z:.9f}", f"{z / 10 + 5:.3f}"]
            writer.writerow(([game] if game is not None else []) + row)
    return path


def _write_events(path: Path, records: list[dict[str, object]]) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    return path


def _events(releases: list[int], made: np.ndarray, quarters: list[int], game: str | None = "21500001") -> list[dict]:
    """Event rows; the game id is written without its leading zeros, as a spreadsheet would."""
    records = []
    for i, (release, result, q) in enumerate(zip(releases, made.tolist(), quarters)):
        record = {"event_id": f"e{i}", "period": q, "game_clock": f"{release / 100:.2f}"}
        record["made"] = MADE_TEXT[result][i % 4]
        if game is not None:
            record["game_id"] = game
        records.append(record)
    return records


def _game(tmp_path: Path, shots, duplicates: int = 60) -> tuple[Path, Path, list[int]]:
    sims, labels = shots
    rows, releases = _layout(sims, HOOPS, QUARTERS)
    moments = _write_moments(tmp_path / "moments.csv", rows, duplicates=duplicates)
    events = _write_events(tmp_path / "events.csv", _events(releases, labels["made"], QUARTERS))
    return moments, events, releases


def _read_quietly(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return read_sportvu(*args, **kwargs)


# --------------------------------------------------------------------------- frames and units


def test_court_to_hoop_closed_form_points():
    top = court_to_hoop(np.array([5.25 + 23.75, 25.0, 10.0]), "left")
    np.testing.assert_allclose(top, [7.239, 0.0, 3.048], rtol=0, atol=1e-12)
    mirror = court_to_hoop(np.array([88.75 - 23.75, 25.0, 10.0]), "right")
    np.testing.assert_allclose(mirror, [7.239, 0.0, 3.048], rtol=0, atol=1e-12)
    # off the axis: the right hoop's frame is the court turned 180 degrees, so it stays right-handed
    left = court_to_hoop(np.array([[5.25 + 3.0, 25.0 + 4.0, 2.0]]), "left")
    right = court_to_hoop(np.array([[88.75 - 3.0, 25.0 - 4.0, 2.0]]), "right")
    np.testing.assert_allclose(left, [[3 * FEET, 4 * FEET, 2 * FEET]], rtol=0, atol=1e-12)
    np.testing.assert_allclose(right, left, rtol=0, atol=1e-12)
    assert court_to_hoop(np.array([5.25, 25.0]), "left").tolist() == [0.0, 0.0]  # (x, y) points work too


def test_court_hoop_round_trip_and_nearest_hoop():
    rng = np.random.default_rng(0)
    court = rng.uniform([0, 0, 0], [94, 50, 15], size=(50, 3))
    metres = rng.normal(size=(4, 7, 3)) * 8
    for hoop in ("left", "right"):
        np.testing.assert_allclose(hoop_to_court(court_to_hoop(court, hoop), hoop), court, rtol=0, atol=1e-12)
        np.testing.assert_allclose(court_to_hoop(hoop_to_court(metres, hoop), hoop), metres, rtol=0, atol=1e-12)
    assert nearest_hoop(20.0, 3.0) == "left"
    assert nearest_hoop(70.0, 48.0) == "right"
    assert nearest_hoop(46.9, 25.0) == "left" and nearest_hoop(47.1, 25.0) == "right"
    with pytest.raises(ValueError, match="'middle'"):
        court_to_hoop(court, "middle")  # type: ignore[arg-type]


def test_flight_end_rule_by_hand():
    rising_then_falling = np.array([[7, 0, 2.2], [6, 0, 2.5], [5, 0, 2.3], [4, 0, 2.05], [3, 0, 1.9], [2, 0, 1.0]])
    assert flight_end(rising_then_falling) == 4  # falling and below 2.0 m first at frame 4
    assert flight_end(rising_then_falling, end_height=2.4) == 2
    # reaches the basket area (frame 2) and leaves it (frame 3): ends there though still high
    through = np.array([[3.0, 0, 3], [2.6, 0, 3.2], [2.0, 0, 3.3], [2.6, 0, 3.25], [3.0, 0, 3.2]])
    assert flight_end(through) == 3
    assert flight_end(through[2:]) == 1  # starting inside the radius (frame 0) counts as having reached it
    flat = np.column_stack([np.linspace(7, 6, 200), np.zeros(200), np.full(200, 2.5)])
    assert flight_end(flat) == 100  # max_time 4 s at 25 Hz: frames 0..100
    assert flight_end(flat[:30]) == 29  # otherwise the data's end


def test_flight_end_matches_simulator_lengths(shots):
    sims, labels = shots
    for traj, length in zip(sims, labels["length"]):
        tail = np.repeat(traj[-1:] - [[0, 0, 0.01]], 5, axis=0)  # still falling after the end
        assert flight_end(np.concatenate([traj, tail])) == length - 1


# --------------------------------------------------------------------------- reading


def test_csv_moments_reproduce_simulated_shots(tmp_path, shots):
    sims, labels = shots
    moments, events, _ = _game(tmp_path, shots)
    table = _read_quietly(moments, events)
    assert len(table) == N_SHOTS
    assert table.ids == [f"{GAME}:e{i}" for i in range(N_SHOTS)]  # the game id as the moments spell it
    assert table.feature_names == ["x", "y", "z"]
    assert table.source == str(moments)
    assert table.labels["made"].dtype == np.int64 and table.labels["length"].dtype == np.int64
    np.testing.assert_array_equal(table.labels["made"], labels["made"])
    np.testing.assert_array_equal(table.labels["length"], labels["length"])
    for got, want in zip(table.sequences, sims):
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    for name in ("start_x", "start_y", "distance"):
        np.testing.assert_allclose(table.labels[name], labels[name], rtol=0, atol=1e-5)


def test_max_time_caps_the_cut(tmp_path, shots):
    sims, _ = shots
    moments, events, _ = _game(tmp_path, shots)
    table = _read_quietly(moments, events, max_time=1.0)
    assert [len(s) for s in table.sequences] == [min(len(s), 26) for s in sims]
    for got, want in zip(table.sequences, sims):
        np.testing.assert_allclose(got, want[: len(got)], rtol=0, atol=1e-5)


def test_court_frame_is_feet_to_metres_without_translation(tmp_path, shots):
    sims, labels = shots
    moments, events, _ = _game(tmp_path, shots)
    table = _read_quietly(moments, events, frame="court")
    assert len(table) == N_SHOTS
    for got, want, hoop in zip(table.sequences, sims, HOOPS):
        np.testing.assert_allclose(got, hoop_to_court(want.astype(np.float64), hoop) * FEET, rtol=0, atol=1e-5)
    first = np.array([hoop_to_court(s[0].astype(np.float64), h) * FEET for s, h in zip(sims, HOOPS)])
    np.testing.assert_allclose(table.labels["start_x"], first[:, 0], rtol=0, atol=1e-5)
    np.testing.assert_allclose(table.labels["start_y"], first[:, 1], rtol=0, atol=1e-5)
    np.testing.assert_allclose(table.labels["distance"], labels["distance"], rtol=0, atol=1e-5)  # from the rim
    np.testing.assert_array_equal(table.labels["length"], labels["length"])


def test_sportvu_shots_returns_the_reader_output(tmp_path, shots):
    moments, events, _ = _game(tmp_path, shots, duplicates=0)
    table = _read_quietly(moments, events, end_height=2.5)
    sequences, labels = sportvu_shots(str(moments), str(events), end_height=2.5, seed=123)
    assert len(sequences) == len(table)
    assert all(np.array_equal(a, b) for a, b in zip(sequences, table.sequences))
    assert labels.keys() == table.labels.keys()
    assert all(np.array_equal(labels[k], table.labels[k]) for k in labels)
    assert (labels["length"] <= shots[1]["length"]).all()  # a higher end height ends no later


def _json_game(path: Path, rows, split: int, blind: int) -> Path:
    """``rows`` as an NBA-movement game: two events sharing moments ``split - 30 .. split``, players on the court,
    an extra moment after row ``blind`` where the ball is not tracked, and the ball entry last in row ``blind``."""
    rng = np.random.default_rng(5)

    def moment(q: int, c: int, ball: list[float] | None, last: bool = False) -> list:
        players = [[1610612737 + (k > 4), 200000 + k, *rng.uniform([0, 0], [94, 50]).tolist(), 0.0] for k in range(10)]
        entries = players if ball is None else ([*players, [-1, -1, *ball]] if last else [[-1, -1, *ball], *players])
        return [q, 1448000000000 + 40 * len(rows) - c, c / 100, 24.0, None, entries]

    first = [moment(q, c, [x, y, z], last=i == blind) for i, (q, c, x, y, z) in enumerate(rows[:split])]
    second = [moment(q, c, [x, y, z]) for q, c, x, y, z in rows[split - 30 :]]
    q, c = rows[blind][:2]
    second.insert(blind - (split - 30), moment(q, c - 1, None))  # a moment between two frames, without the ball
    game = {
        "gameid": GAME,
        "gamedate": "2016-01-01",
        "events": [
            {"eventId": "1", "visitor": {"name": "A"}, "home": {"name": "B"}, "moments": first},
            {"eventId": "2", "visitor": {"name": "A"}, "home": {"name": "B"}, "moments": second},
        ],
    }
    path.write_text(json.dumps(game))
    return path


def test_json_layout_gives_the_csv_result(tmp_path, shots):
    sims, labels = shots
    rows, releases = _layout(sims[:3], HOOPS[:3], [1, 1, 1])
    with open(tmp_path / "moments.csv", "w", newline="") as fh:  # full float precision in both files
        writer = csv.writer(fh)
        writer.writerow(["game_id", "quarter", "game_clock", "ball_x", "ball_y", "ball_z"])
        writer.writerows([GAME, q, repr(c / 100), repr(x), repr(y), repr(z)] for q, c, x, y, z in rows)
    release_row = next(i for i, r in enumerate(rows) if r[1] == releases[1])
    json_path = _json_game(tmp_path / "game.json", rows, split=release_row + 10, blind=release_row + 5)
    events = _write_events(tmp_path / "events.csv", _events(releases, labels["made"][:3], [1, 1, 1], game=None))
    from_csv = _read_quietly(tmp_path / "moments.csv", events)
    from_json = _read_quietly(json_path, events)
    assert from_json.ids == from_csv.ids == [f"{GAME}:e{i}" for i in range(3)]
    assert from_json.source == str(json_path)
    for a, b, want in zip(from_json.sequences, from_csv.sequences, sims):
        assert np.array_equal(a, b)
        np.testing.assert_allclose(a, want, rtol=0, atol=1e-5)
    for name in from_csv.labels:
        np.testing.assert_array_equal(from_json.labels[name], from_csv.labels[name])


def test_parquet_moments_give_the_csv_result(tmp_path, shots):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    sims, labels = shots
    rows, releases = _layout(sims[:2], HOOPS[:2], [1, 1])
    q, c, x, y, z = (list(col) for col in zip(*rows))
    pq.write_table(
        pa.table({"period": q, "game_clock": [v / 100 for v in c], "ball_x": x, "ball_y": y, "ball_z": z}),
        tmp_path / "moments.parquet",
    )
    events = _write_events(tmp_path / "events.csv", _events(releases, labels["made"][:2], [1, 1], game=None))
    table = _read_quietly(tmp_path / "moments.parquet", events)
    assert table.ids == ["e0", "e1"]
    for got, want in zip(table.sequences, sims):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


# --------------------------------------------------------------------------- skipping and gaps


def test_event_without_a_moment_is_skipped_with_one_warning(tmp_path, shots):
    _, labels = shots
    moments, _, releases = _game(tmp_path, shots)
    records = _events(releases, labels["made"], QUARTERS)
    records.insert(2, {"event_id": "ghost", "period": 1, "game_clock": "100.00", "made": "1", "game_id": GAME})
    records.append({"event_id": "late", "period": 3, "game_clock": "700.00", "made": "0", "game_id": GAME})
    events = _write_events(tmp_path / "events2.csv", records)
    with pytest.warns(UserWarning) as caught:
        table = read_sportvu(moments, events)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "skipped 2 of 10" in message
    assert f"'{GAME}:ghost' (no moment within 0.02 s of its release clock 100" in message
    assert f"'{GAME}:late' (no moments in game 0021500001 quarter 3)" in message
    assert table.ids == [f"{GAME}:e{i}" for i in range(N_SHOTS)]


def test_release_clock_matches_the_nearest_moment_within_half_a_frame(tmp_path, shots):
    sims, labels = shots
    moments, _, releases = _game(tmp_path, shots)
    records = _events(releases, labels["made"], QUARTERS)
    records[0]["game_clock"] = f"{releases[0] / 100 - 0.015:.3f}"  # nearer the release than the next frame
    records[1]["game_clock"] = f"{releases[1] / 100 + 0.025:.3f}"  # nearer the moment before the release
    events = _write_events(tmp_path / "events2.csv", records)
    table = _read_quietly(moments, events)
    np.testing.assert_allclose(table.sequences[0], sims[0], rtol=0, atol=1e-5)
    held = hoop_to_court(sims[1][0].astype(np.float64) - [0, 0, 0.06], HOOPS[1])  # the last held moment
    np.testing.assert_allclose(table.sequences[1][0], court_to_hoop(held, HOOPS[1]), rtol=0, atol=1e-5)


def test_a_clock_gap_ends_the_sequence(tmp_path, shots):
    sims, labels = shots
    rows, releases = _layout(sims, HOOPS, QUARTERS)
    gone = {(1, releases[0] - 4 * 12)}  # frame 12 of shot 0 is missing: a 0.08 s gap
    shifted = {(1, releases[1] - 4 * 6)}  # frame 6 of shot 1 is 0.02 s late: gaps of 0.02 and 0.06 s are fine
    kept = [r for r in rows if (r[0], r[1]) not in gone]
    kept = [(q, c + 2, x, y, z) if (q, c) in shifted else (q, c, x, y, z) for q, c, x, y, z in kept]
    moments = _write_moments(tmp_path / "moments.csv", kept)
    events = _write_events(tmp_path / "events.csv", _events(releases, labels["made"], QUARTERS))
    table = _read_quietly(moments, events)
    assert len(table.sequences[0]) == 12
    np.testing.assert_allclose(table.sequences[0], sims[0][:12], rtol=0, atol=1e-5)
    np.testing.assert_allclose(table.sequences[1], sims[1], rtol=0, atol=1e-5)
    assert table.labels["length"].tolist() == [12, *labels["length"][1:].tolist()]


def test_shots_shorter_than_min_length_are_skipped(tmp_path, shots):
    _, labels = shots
    moments, events, _ = _game(tmp_path, shots)
    shortest = int(np.argmin(labels["length"]))
    with pytest.warns(UserWarning, match=rf"'{GAME}:e{shortest}' \(cut to {labels['length'][shortest]} frame"):
        table = read_sportvu(moments, events, min_length=int(labels["length"][shortest]) + 1)
    assert len(table) == N_SHOTS - 1 and f"{GAME}:e{shortest}" not in table.ids


# --------------------------------------------------------------------------- errors


def _small_game(tmp_path: Path, shots) -> tuple[list, list[dict]]:
    sims, labels = shots
    rows, releases = _layout(sims[:2], HOOPS[:2], [1, 1], lead=2, pad=2)
    return rows, _events(releases, labels["made"][:2], [1, 1], game=None)


def test_missing_column_names_it(tmp_path, shots):
    rows, records = _small_game(tmp_path, shots)
    events = _write_events(tmp_path / "events.csv", records)
    moments = _write_moments(tmp_path / "moments.csv", rows, game=None)
    text = moments.read_text().replace("ball_z", "height", 1)
    (tmp_path / "no_z.csv").write_text(text)
    with pytest.raises(DataError, match=r"no_z\.csv: no column 'ball_z'.*columns present: quarter, game_clock"):
        read_sportvu(tmp_path / "no_z.csv", events)
    without_made = _write_events(tmp_path / "e2.csv", [{k: v for k, v in r.items() if k != "made"} for r in records])
    with pytest.raises(DataError, match=r"e2\.csv: no column 'made'"):
        read_sportvu(moments, without_made)


def test_non_numeric_values_name_line_and_column(tmp_path, shots):
    rows, records = _small_game(tmp_path, shots)
    events = _write_events(tmp_path / "events.csv", records)
    moments = _write_moments(tmp_path / "moments.csv", rows, game=None)
    lines = moments.read_text().splitlines()
    cells = lines[4].split(",")
    cells[4] = "n/a"  # ball_y on line 5
    lines[4] = ",".join(cells)
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"bad\.csv: line 5, column 'ball_y': 'n/a' is not a number"):
        read_sportvu(tmp_path / "bad.csv", events)
    cells[4], cells[0] = "1.0", "1.5"  # a fractional quarter
    lines[4] = ",".join(cells)
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"line 5, column 'quarter': '1\.5' is not a whole number"):
        read_sportvu(tmp_path / "bad.csv", events)
    records[1]["made"] = "maybe"
    bad_events = _write_events(tmp_path / "bad_events.csv", records)
    with pytest.raises(DataError, match=r"bad_events\.csv: line 3, column 'made': 'maybe' is not a shot result"):
        read_sportvu(moments, bad_events)
    records[1]["made"], records[0]["game_clock"] = "0", "soon"
    bad_events = _write_events(tmp_path / "bad_events.csv", records)
    with pytest.raises(DataError, match=r"line 2, column 'game_clock': 'soon' is not a number"):
        read_sportvu(moments, bad_events)


def test_no_shot_cut_is_an_error(tmp_path, shots):
    rows, records = _small_game(tmp_path, shots)
    moments = _write_moments(tmp_path / "moments.csv", rows, game=None)
    for r in records:
        r["game_clock"] = "1.00"
    events = _write_events(tmp_path / "events.csv", records)
    with pytest.raises(DataError, match=r"no shot could be cut for the 2 event\(s\).*'e0' \(no moment within"):
        read_sportvu(moments, events)


def test_events_that_cannot_tell_the_quarter_are_an_error(tmp_path, shots):
    _, labels = shots
    moments, _, releases = _game(tmp_path, shots)
    records = [{k: v for k, v in r.items() if k != "period"} for r in _events(releases, labels["made"], QUARTERS)]
    events = _write_events(tmp_path / "events2.csv", records)
    with pytest.raises(
        DataError, match=r"line 2, event 'e0': .* 2 \(game, quarter\) pairs .* 'quarter' \(or 'period'\)"
    ):
        read_sportvu(moments, events)


def test_missing_files_and_bad_arguments(tmp_path, shots):
    rows, records = _small_game(tmp_path, shots)
    moments = _write_moments(tmp_path / "moments.csv", rows, game=None)
    events = _write_events(tmp_path / "events.csv", records)
    with pytest.raises(DataError, match=r"nowhere\.csv: no such file"):
        read_sportvu(tmp_path / "nowhere.csv", events)
    with pytest.raises(DataError, match=r"nothing\.csv: no such file"):
        sportvu_shots(str(moments), str(tmp_path / "nothing.csv"))
    with pytest.raises(DataError, match="frame must be 'hoop' or 'court'"):
        read_sportvu(moments, events, frame="feet")  # type: ignore[arg-type]
    (tmp_path / "moments.txt").write_text("x")
    with pytest.raises(DataError, match=r"unsupported file type '\.txt'"):
        read_sportvu(tmp_path / "moments.txt", events)
