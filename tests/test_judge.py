"""The video judge: closed forms of its scores and a small fit that must learn."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqvae.analysis.judge import (
    SPRITE_HEADS,
    VideoJudge,
    conditional_entropy,
    generation_scores,
    inception_score,
    judge_accuracy,
    judge_probabilities,
    marginal_entropy,
    train_judge,
)
from seqvae.domains.sprites.data import sprite_videos
from seqvae.errors import DataError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("k", [2, 6, 9])
def test_uniform_judge_scores(k):
    probs = np.full((50, k), 1.0 / k)
    assert inception_score(probs) == pytest.approx(1.0)
    assert conditional_entropy(probs) == pytest.approx(math.log(k))
    assert marginal_entropy(probs) == pytest.approx(math.log(k))


@pytest.mark.parametrize("k", [2, 6, 9])
def test_confident_judge_on_balanced_classes(k):
    probs = np.eye(k)[np.arange(10 * k) % k]
    assert inception_score(probs) == pytest.approx(k)
    assert conditional_entropy(probs) == pytest.approx(0.0)
    assert marginal_entropy(probs) == pytest.approx(math.log(k))


def test_confident_single_class_has_is_one():
    probs = np.tile([0.0, 1.0, 0.0], (7, 1))
    assert inception_score(probs) == pytest.approx(1.0)
    assert marginal_entropy(probs) == pytest.approx(0.0)


def test_scores_by_hand():
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    h = lambda p: -sum(x * math.log(x) for x in p)  # noqa: E731
    hyx = (h([0.9, 0.1]) + h([0.2, 0.8])) / 2
    hy = h([0.55, 0.45])
    kl = np.mean([sum(p * math.log(p / m) for p, m in zip(row, [0.55, 0.45])) for row in probs])
    scores = generation_scores(probs)
    assert scores["h_y_given_x"] == pytest.approx(hyx)
    assert scores["h_y"] == pytest.approx(hy)
    assert scores["is"] == pytest.approx(math.exp(kl))
    assert scores["is"] == pytest.approx(math.exp(hy - hyx))  # IS = exp of the mutual information


def test_scores_refuse_non_probabilities():
    with pytest.raises(ValueError):
        inception_score(np.array([[0.5, 0.6]]))
    with pytest.raises(ValueError):
        conditional_entropy(np.zeros((0, 3)))


def test_judge_shapes_and_probabilities():
    judge = VideoJudge(SPRITE_HEADS, width=4, features=8)
    x = np.random.default_rng(0).random((3, 4, 16, 16, 3)).astype(np.float32)
    probs = judge_probabilities(judge, x)
    assert set(probs) == set(SPRITE_HEADS)
    for name, k in SPRITE_HEADS.items():
        assert probs[name].shape == (3, k)
        np.testing.assert_allclose(probs[name].sum(1), 1.0)
    # channels-first input gives the same answer
    first = judge_probabilities(judge, x.transpose(0, 1, 4, 2, 3), layout="channels-first")
    np.testing.assert_allclose(first["action"], probs["action"], rtol=1e-6, atol=1e-8)


def test_judge_refuses_bad_input():
    x, y = sprite_videos(4, size=16, frames=2, seed=0)
    with pytest.raises(DataError, match="5 dimensions"):
        train_judge(x[:, 0], y, epochs=1)
    with pytest.raises(DataError, match="label 'top'"):
        train_judge(x, {"skin": y["skin"]}, heads={"skin": 6, "top": 6}, epochs=1)
    with pytest.raises(DataError, match="0..2"):
        train_judge(x, {"direction": y["direction"] + 3}, heads={"direction": 3}, epochs=1)


def test_judge_learns_an_easy_subset():
    x, y = sprite_videos(300, size=16, frames=4, seed=1, jitter=0.0)
    xt, yt = sprite_videos(200, size=16, frames=4, seed=2, jitter=0.0)
    heads = {"top": 6, "bottom": 6, "direction": 3}
    judge = train_judge(x, y, heads, epochs=5, batch_size=16, width=8, seed=0, lr=5e-3)
    acc = judge_accuracy(judge, xt, yt)
    assert set(acc) == set(heads)
    assert min(acc.values()) >= 0.8, acc  # chance is 1/6, 1/6 and 1/3
