"""Video judge: a classifier of sprite videos' attributes and action, and the scores it gives generators.

The disentanglement protocol on Sprites (DSAE, S3VAE, C-DSVAE) scores a sequential VAE with a classifier
trained on labelled real videos:

* keep the content f and draw new dynamics: the judge must still see the source video's attributes;
* keep the dynamics and draw new content: the judge must still see the source video's action;
* for videos generated from the priors: the Inception Score exp(E_x KL(p(y|x) || p(y))), the mean
  entropy of the judge's predictions H(y|x) (low: each video is recognisable) and the entropy of their
  average H(y) (high: the generator covers all classes). ``IS = exp(H(y) - H(y|x))`` exactly.

:class:`VideoJudge` is a small per-frame CNN (three conv + max-pool blocks, adaptive pooling so any frame
size works) whose frame encodings are pooled over time for the static heads and read by a temporal
convolution for the action head; one softmax head per label. It is trained with Adam by
:func:`train_judge` (a plain supervised loop: this is an analysis tool, not a model the Trainer fits).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seqvae.errors import DataError

Layout = Literal["channels-first", "channels-last"]
SPRITE_HEADS = {"skin": 6, "top": 6, "bottom": 6, "hair": 6, "action": 9}  # label -> number of classes
ATTRIBUTE_HEADS = ("skin", "top", "bottom", "hair")


class VideoJudge(nn.Module):
    """Multi-head video classifier over ``(B, T, C, H, W)`` frames in [0, 1]."""

    def __init__(self, heads: Mapping[str, int] | None = None, channels: int = 3, width: int = 32,
                 features: int = 128) -> None:  # fmt: skip
        super().__init__()
        self.heads_spec = dict(heads or SPRITE_HEADS)
        if not self.heads_spec or any(k < 2 for k in self.heads_spec.values()):
            raise ValueError(f"every judge head needs at least two classes, got {self.heads_spec}")
        self.channels = channels

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

        self.frame = nn.Sequential(
            *block(channels, width), *block(width, 2 * width), *block(2 * width, 2 * width),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(2 * width * 16, features), nn.ReLU(),
        )  # fmt: skip
        self.temporal = nn.Sequential(nn.Conv1d(features, features, 3, padding=1), nn.ReLU())
        self.out = nn.ModuleDict({name: nn.Linear(3 * features, k) for name, k in self.heads_spec.items()})

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Logits per head for videos ``(B, T, C, H, W)`` in [0, 1]."""
        b, t = x.shape[:2]
        e = self.frame((2.0 * x - 1.0).reshape(b * t, *x.shape[2:])).reshape(b, t, -1)
        m = self.temporal(e.transpose(1, 2))  # (B, D, T)
        pooled = torch.cat([e.mean(1), m.mean(2), m.amax(2)], dim=-1)
        return {name: head(pooled) for name, head in self.out.items()}


def _as_video_tensor(videos: np.ndarray | Tensor, layout: Layout, channels: int | None) -> Tensor:
    x = torch.as_tensor(videos, dtype=torch.float32)
    if x.dim() != 5:
        raise DataError(f"the judge reads videos (N, T, ...) with 5 dimensions, got shape {tuple(x.shape)}")
    if layout == "channels-last":
        x = x.permute(0, 1, 4, 2, 3)
    if channels is not None and x.shape[2] != channels:
        raise DataError(f"the judge reads {channels}-channel frames ({layout}), got shape {tuple(videos.shape)}")
    return x


def _check_labels(labels: Mapping[str, np.ndarray | Tensor], heads: Mapping[str, int], n: int) -> dict[str, Tensor]:
    out = {}
    for name, k in heads.items():
        if name not in labels:
            raise DataError(f"the judge needs label {name!r}; got {', '.join(labels) or 'none'}")
        y = torch.as_tensor(np.asarray(labels[name]), dtype=torch.long)
        if y.shape != (n,) or bool(((y < 0) | (y >= k)).any()):
            raise DataError(f"label {name!r} must be {n} integers in 0..{k - 1}")
        out[name] = y
    return out


def train_judge(
    videos: np.ndarray | Tensor,
    labels: Mapping[str, np.ndarray | Tensor],
    heads: Mapping[str, int] | None = None,
    layout: Layout = "channels-last",
    epochs: int = 8,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    width: int = 32,
) -> VideoJudge:
    """A :class:`VideoJudge` fitted to ``videos`` (``(N, T, H, W, C)`` or ``(N, T, C, H, W)``) and labels."""
    torch.manual_seed(seed)
    heads = dict(heads or SPRITE_HEADS)
    x = _as_video_tensor(videos, layout, None)
    ys = _check_labels(labels, heads, len(x))
    judge = VideoJudge(heads, channels=x.shape[2], width=width)
    opt = torch.optim.Adam(judge.parameters(), lr=lr)
    steps = epochs * math.ceil(len(x) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1))
    gen = torch.Generator().manual_seed(seed)
    judge.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            if len(idx) < 2:  # BatchNorm needs two examples
                continue
            logits = judge(x[idx])
            loss = sum(F.cross_entropy(logits[k], ys[k][idx]) for k in heads)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return judge.eval()


@torch.no_grad()
def judge_probabilities(
    judge: VideoJudge, videos: np.ndarray | Tensor, layout: Layout = "channels-last", batch_size: int = 200
) -> dict[str, np.ndarray]:
    """p(y | x) per head: ``{label: (N, classes)}`` float64 rows summing to one."""
    judge.eval()
    x = _as_video_tensor(videos, layout, judge.channels)
    ref = next(judge.parameters())
    parts: dict[str, list[np.ndarray]] = {k: [] for k in judge.heads_spec}
    for i in range(0, len(x), batch_size):
        logits = judge(x[i : i + batch_size].to(ref.device))
        for k, v in logits.items():
            parts[k].append(torch.softmax(v.double(), -1).cpu().numpy())
    return {k: np.concatenate(v) if v else np.zeros((0, judge.heads_spec[k])) for k, v in parts.items()}


def judge_accuracy(
    judge: VideoJudge, videos: np.ndarray | Tensor, labels: Mapping[str, np.ndarray | Tensor],
    layout: Layout = "channels-last", heads: tuple[str, ...] | None = None,
) -> dict[str, float]:  # fmt: skip
    """Fraction of ``videos`` whose label the judge predicts, per head (``heads``: a subset)."""
    probs = judge_probabilities(judge, videos, layout)
    names = heads or tuple(judge.heads_spec)
    return {k: float(np.mean(probs[k].argmax(1) == np.asarray(labels[k]))) for k in names}


def _probs(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0 or (p < 0).any() or not np.allclose(p.sum(1), 1.0, atol=1e-6):
        raise ValueError(f"expected a non-empty (N, classes) array of probability rows, got shape {p.shape}")
    return p


def _entropy(p: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row (0 log 0 = 0)."""
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)


def conditional_entropy(probs: np.ndarray) -> float:
    """H(y|x) = E_x H(p(y|x)) in nats: low when the judge is sure of every video."""
    return float(_entropy(_probs(probs)).mean())


def marginal_entropy(probs: np.ndarray) -> float:
    """H(y) of the average prediction p(y) = E_x p(y|x), in nats: log(classes) at most (uniform coverage)."""
    return float(_entropy(_probs(probs).mean(0)))


def inception_score(probs: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))) = exp(H(y) - H(y|x)): between 1 and the number of classes."""
    p = _probs(probs)
    marginal = p.mean(0)
    kl = np.sum(np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(np.where(p > 0, marginal, 1.0))), 0.0), 1)
    return float(np.exp(kl.mean()))


def generation_scores(probs: np.ndarray) -> dict[str, float]:
    """Inception Score, H(y|x) and H(y) of one head's predictions on generated videos."""
    return {"is": inception_score(probs), "h_y_given_x": conditional_entropy(probs), "h_y": marginal_entropy(probs)}
