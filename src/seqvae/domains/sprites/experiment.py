"""Source 002: the Disentangled Sequential Autoencoder on Sprites videos, scored by a video judge.

``seqvae experiment sprites`` renders character videos (:mod:`seqvae.domains.sprites.data`; or reads the ``.npy``
release with ``--data DIR``), trains the DSAE of ``sprites.yaml`` (next to this module) and evaluates it with the protocol
of the disentanglement literature on Sprites (DSAE, S3VAE, C-DSVAE), using a judge
(:mod:`seqvae.analysis.judge`) trained on separately generated labelled videos (on the training split
when the data are read from files):

* the judge's accuracy on the held-out real test videos (it must be trustworthy: >= 98 % per head);
* reconstructions: pixel error and the judge's accuracy on them;
* **fixed f**: the content f of each test video is kept and new dynamics are drawn from the prior; the
  judge must still find the source video's attributes (skin, top, bottom, hair);
* **fixed z**: the dynamics of each test video are kept and a new f is drawn from the prior; the judge
  must still find the source's action. As in S3VAE / C-DSVAE, the Inception Score, H(y|x) and H(y) of
  the action head are computed on these videos;
* videos generated from both priors: IS, H(y|x), H(y) per head.

Figures: originals against reconstructions, a swap grid (rows: content source, columns: motion source),
fixed-f and fixed-z generations, generated videos and learning curves.

``seqvae experiment sprites-posteriors`` trains the factorized q(z_t | x_t) and the full q(z_{1:T} | x, f)
with the same config (same data, steps and seed) and reports both side by side.
"""

from __future__ import annotations

import inspect
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqvae import plots
from seqvae.analysis.judge import (
    ATTRIBUTE_HEADS,
    SPRITE_HEADS,
    VideoJudge,
    generation_scores,
    judge_probabilities,
    train_judge,
)
from seqvae.config import RunConfig
from seqvae.data.arrays import ArrayDataset
from seqvae.data.batch import Batch
from seqvae.data.prepare import DataBundle
from seqvae.domains.sprites.data import sprite_videos
from seqvae.errors import ConfigError, DataError
from seqvae.experiments import register_experiment
from seqvae.experiments.common import experiment_config, header, save_learning_curves, train_summary, write_metrics
from seqvae.training import fit

NAME = "sprites"
COMPARE_NAME = "sprites-posteriors"
JUDGE_VIDEOS = 3000  # labelled videos the judge learns from
JUDGE_EPOCHS = 8
JUDGE_SEED_OFFSET = 10_007  # the judge's videos never coincide with the run's data
JUDGE_ACCURACY_MIN = 0.98  # acceptance: the judge must be trusted before it judges
FIXED_F_ATTRIBUTE_MIN = 0.90  # acceptance (CPU preset): attributes kept when dynamics are resampled
FIXED_Z_ACTION_MIN = 0.80  # acceptance (CPU preset): action kept when content is resampled
GENERATED_VIDEOS = 500
SHOWN = 4  # videos per figure row / swap grid side
EVAL_BATCH = 100
# the DSAE row of Table 1 in Zhu et al. 2020 (S3VAE, CVPR), repeated in Bai et al. 2021 (C-DSVAE):
# judge accuracy of the action with the dynamics kept and f resampled, and IS / H(y|x) / H(y) of those videos
PUBLISHED_DSAE = {"source": "Zhu et al. 2020 (S3VAE), Table 1, DSAE row (64x64 Sprites, full posterior)",
                  "action_accuracy": 0.9073, "is": 8.384, "h_y_given_x": 0.072, "h_y": 2.192}
# the C-DSVAE row of the same table in Bai et al. 2021 (NeurIPS), quoted from the literature, not re-checked
PUBLISHED_CDSVAE = {"source": "Bai et al. 2021 (C-DSVAE), Table 1 (64x64 Sprites)",
                    "action_accuracy": 0.9999, "is": 8.871, "h_y_given_x": 0.014, "h_y": 2.197}


# --------------------------------------------------------------------------- data


def data_overrides(data: str | Path | None) -> list[str]:
    """Config overrides that read the Sprites ``.npy`` release in directory ``data`` (its train split)."""
    if data is None:
        return []
    path = Path(data)
    if not path.is_dir():
        raise DataError(f"{path}: not a directory (the Sprites release is a directory of sprites_*_train.npy files)")
    return ["data.kind=sprites-npy", "data.params={}", f"data.params.directory={json.dumps(str(path))}"]


def _generator_params(cfg: RunConfig) -> dict[str, Any]:
    """The sprite generator's size / frames / jitter of this run (its defaults where the config is silent)."""
    defaults = {k: p.default for k, p in inspect.signature(sprite_videos).parameters.items()}
    return {k: cfg.data.params.get(k, defaults[k]) for k in ("size", "frames", "jitter")}


def _numpy_labels(dataset: ArrayDataset) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in dataset.labels.items()}


def fit_judge(cfg: RunConfig, bundle: DataBundle, videos: int, epochs: int, seed: int) -> tuple[VideoJudge, dict]:
    """The judge: trained on ``videos`` freshly generated videos (same size, frames, jitter as the run's
    data, another seed) or, for data read from files, on the training split; scored on the test split."""
    start = time.perf_counter()
    if cfg.data.kind == "sprites":
        params = _generator_params(cfg)
        x, labels = sprite_videos(videos, seed=seed + JUDGE_SEED_OFFSET, **params)
        source = f"{videos} generated videos (seed {seed + JUDGE_SEED_OFFSET})"
    else:
        x, labels = bundle.train.values.numpy(), _numpy_labels(bundle.train)
        source = f"the training split ({len(x)} videos)"
    judge = train_judge(x, labels, SPRITE_HEADS, layout="channels-last", epochs=epochs, seed=seed, width=16)
    test_labels = _numpy_labels(bundle.test)
    probs = judge_probabilities(judge, bundle.test.values.numpy(), "channels-last")
    accuracy = {k: float(np.mean(probs[k].argmax(1) == test_labels[k])) for k in SPRITE_HEADS}
    info = {
        "trained_on": source,
        "epochs": epochs,
        "seconds": time.perf_counter() - start,
        "test_videos": len(bundle.test),
        "test_accuracy": accuracy,
        "min_test_accuracy": min(accuracy.values()),
    }
    return judge, info


# --------------------------------------------------------------------------- evaluation


def _accuracies(probs: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> dict[str, float]:
    acc = {k: float(np.mean(p.argmax(1) == labels[k])) for k, p in probs.items()}
    acc["attributes_mean"] = float(np.mean([acc[k] for k in ATTRIBUTE_HEADS]))
    acc["attributes_min"] = float(min(acc[k] for k in ATTRIBUTE_HEADS))
    return acc


def _all_scores(probs: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    return {k: generation_scores(p) for k, p in probs.items()}


@torch.no_grad()
def evaluate_dsae(model: Any, judge: VideoJudge | None, dataset: ArrayDataset, seed: int,
                  generated: int = GENERATED_VIDEOS) -> tuple[dict[str, Any], dict[str, np.ndarray]]:  # fmt: skip
    """The disentanglement protocol on ``dataset``; returns the metrics and the videos the figures use.

    Without a ``judge`` (unlabelled videos) only the reconstruction error is measured."""
    model.eval()
    gen = torch.Generator().manual_seed(seed + 1)
    labels = _numpy_labels(dataset)
    outs: dict[str, list[np.ndarray]] = {"reconstruction": [], "fixed_f": [], "fixed_z": []}
    sq_err = 0.0
    for i in range(0, len(dataset), EVAL_BATCH):
        batch: Batch = dataset.__getitems__(list(range(i, min(i + EVAL_BATCH, len(dataset)))))
        recon = model.reconstruct(batch)
        sq_err += float(((recon - batch.values) ** 2).sum())
        outs["reconstruction"].append(recon.numpy())
        outs["fixed_f"].append(model.resample_dynamics(batch, gen).numpy())
        outs["fixed_z"].append(model.resample_content(batch, gen).numpy())
    videos = {k: np.concatenate(v) for k, v in outs.items()}
    videos["generated"] = model.generate_videos(generated, generator=gen).numpy()
    if judge is None:
        videos["original"] = dataset.values.numpy()
        return {"videos": len(dataset), "reconstruction": {"mse_per_pixel": sq_err / dataset.values.numel()}}, videos
    probs = {k: judge_probabilities(judge, v, "channels-last") for k, v in videos.items()}
    probs["original"] = judge_probabilities(judge, dataset.values.numpy(), "channels-last")
    metrics = {
        "videos": len(dataset),
        "reconstruction": {"mse_per_pixel": sq_err / dataset.values.numel(), "judge_accuracy": _accuracies(probs["reconstruction"], labels)},
        "original": {"judge_accuracy": _accuracies(probs["original"], labels)},
        # f kept, z_{1:T} from the prior: attributes must survive; the action should not (chance is 1/9)
        "fixed_f": {"judge_accuracy": _accuracies(probs["fixed_f"], labels), "scores": _all_scores(probs["fixed_f"])},
        # z_{1:T} kept, f from the prior: the action must survive; attributes should not (chance 1/6)
        "fixed_z": {"judge_accuracy": _accuracies(probs["fixed_z"], labels), "scores": _all_scores(probs["fixed_z"])},
        "generated": {"videos": generated, "scores": _all_scores(probs["generated"])},
    }
    videos["original"] = dataset.values.numpy()
    return metrics, videos


def _summary(ev: dict[str, Any], judge_info: dict[str, Any]) -> dict[str, Any]:
    if "skipped" in judge_info:
        return {"reconstruction_mse_per_pixel": ev["reconstruction"]["mse_per_pixel"],
                "judge_metrics": "skipped: unlabelled videos"}  # fmt: skip
    action = ev["fixed_z"]["scores"]["action"]
    return {
        "judge_min_test_accuracy": judge_info["min_test_accuracy"],
        "fixed_f_attribute_accuracy_min": ev["fixed_f"]["judge_accuracy"]["attributes_min"],
        "fixed_f_attribute_accuracy_mean": ev["fixed_f"]["judge_accuracy"]["attributes_mean"],
        "fixed_f_action_accuracy": ev["fixed_f"]["judge_accuracy"]["action"],
        "fixed_z_action_accuracy": ev["fixed_z"]["judge_accuracy"]["action"],
        "fixed_z_attribute_accuracy_mean": ev["fixed_z"]["judge_accuracy"]["attributes_mean"],
        "fixed_z_action_is": action["is"],
        "fixed_z_action_h_y_given_x": action["h_y_given_x"],
        "fixed_z_action_h_y": action["h_y"],
        "generated_action_is": ev["generated"]["scores"]["action"]["is"],
        "reconstruction_mse_per_pixel": ev["reconstruction"]["mse_per_pixel"],
    }


def _claims(summary: dict[str, Any], judge_info: dict[str, Any]) -> dict[str, bool | None]:
    """The acceptance claims; a claim whose labels are missing or hold one class is not judged (None)."""
    if "skipped" in judge_info:
        return {"judge_trustworthy": None, "fixed_f_keeps_attributes": None, "fixed_z_keeps_action": None}
    single = set(judge_info.get("single_class", ()))
    return {
        "judge_trustworthy": None if single else bool(summary["judge_min_test_accuracy"] >= JUDGE_ACCURACY_MIN),
        "fixed_f_keeps_attributes": None if single & set(ATTRIBUTE_HEADS)
        else bool(summary["fixed_f_attribute_accuracy_min"] >= FIXED_F_ATTRIBUTE_MIN),
        "fixed_z_keeps_action": None if "action" in single
        else bool(summary["fixed_z_action_accuracy"] >= FIXED_Z_ACTION_MIN),
    }


# --------------------------------------------------------------------------- figures


@torch.no_grad()
def _figures(out: Path, model: Any, dataset: ArrayDataset, videos: dict[str, np.ndarray], title: str) -> list[str]:
    names = []
    k = min(SHOWN, len(dataset))
    rows, labels = [], []
    for i in range(k):
        rows += [videos["original"][i], videos["reconstruction"][i]]
        labels += [f"test {i + 1}", "reconstruction"]
    plots.save_figure(plots.plot_video_strips(rows, labels, f"{title}: test videos and their reconstructions"),
                      out / "reconstructions.png")
    names.append("reconstructions.png")
    idx = list(range(k))
    content = dataset.__getitems__(idx)
    motion_idx = list(range(k, min(2 * k, len(dataset)))) or idx
    motion = dataset.__getitems__(motion_idx)
    m = len(motion_idx)
    swapped = [
        model.swap(Batch(values=content.values[i : i + 1].expand(m, *content.values.shape[1:])), motion).numpy()
        for i in range(k)
    ]
    fig = plots.plot_swap_grid(content.values.numpy(), motion.values.numpy(), swapped,
                               f"{title}: swap grid (f of the row's video, z of the column's video)")
    plots.save_figure(fig, out / "swap_grid.png")
    names.append("swap_grid.png")
    for key, file, what in (("fixed_f", "fixed_f.png", "f kept, dynamics drawn from the prior"),
                            ("fixed_z", "fixed_z.png", "dynamics kept, f drawn from the prior")):
        rows, labels = [], []
        for i in range(k):
            rows += [videos["original"][i], videos[key][i]]
            labels += [f"test {i + 1}", key.replace("_", " ")]
        plots.save_figure(plots.plot_video_strips(rows, labels, f"{title}: {what}"), out / file)
        names.append(file)
    gen = videos["generated"][: 2 * k]
    plots.save_figure(plots.plot_video_strips(list(gen), [f"sample {i + 1}" for i in range(len(gen))],
                                              f"{title}: videos generated from p(f) and p(z)"), out / "generated.png")
    names.append("generated.png")
    save_learning_curves(out, f"{title}: learning curves")
    names.append("learning_curves.png")
    return names


# --------------------------------------------------------------------------- labels


def label_problems(cfg: RunConfig, bundle: DataBundle) -> tuple[list[str], list[str]]:
    """The judge's heads the run's labels cannot support: (missing, holding a single class in the training
    split). Generated videos always carry every label (the judge learns from videos of its own)."""
    if cfg.data.kind == "sprites":
        return [], []
    labels = _numpy_labels(bundle.train)
    missing = [h for h in SPRITE_HEADS if h not in labels]
    single = [h for h in SPRITE_HEADS if h in labels and len(np.unique(labels[h])) < 2]
    return missing, single


def _missing_note(missing: list[str]) -> str:
    return (f"no {', '.join(missing)} labels in the data (sprites_A_*.npy holds the attributes, sprites_D_*.npy "
            "the actions): the judge-based metrics (judge accuracy, fixed-f / fixed-z accuracy, Inception Scores) "
            "are skipped; reconstruction error and figures only")  # fmt: skip


def _warn_single_class(single: list[str]) -> str:
    note = (f"label(s) {', '.join(single)} hold a single class in the training split: the judge learns nothing "
            "from them and scores 1 on them by construction, so the claims that rest on them are not judged (null)")  # fmt: skip
    warnings.warn(f"{NAME}: {note}", UserWarning, stacklevel=3)
    return note


# --------------------------------------------------------------------------- experiments


def _check_model(model: Any) -> None:
    if not model.video_input:
        raise ConfigError(f"{NAME} needs a video model (model.kind=dsae, as sprites.yaml writes it), got {model.kind}")
    if model.config.layout != "channels-last":
        raise ConfigError(f"{NAME} feeds channels-last videos (N, T, H, W, C): set model.layout=channels-last")


def _train_and_evaluate(cfg: RunConfig, out: Path, judge: VideoJudge | None, judge_videos: int, judge_epochs: int,
                        generated: int, title: str) -> tuple[dict[str, Any], VideoJudge | None, dict | None]:  # fmt: skip
    """Train the DSAE of ``cfg`` into ``out``, fit the judge if none is given, evaluate and draw."""
    start = time.perf_counter()
    result = fit(cfg, out)
    if not result.is_main_process:
        return {}, judge, None
    train_seconds = time.perf_counter() - start
    model, bundle = result.model, result.bundle
    _check_model(model)
    if len(bundle.test) < 2:
        raise DataError(f"{NAME}: the test split has {len(bundle.test)} videos; the evaluation needs at least 2")
    judge_info = None
    missing, single = label_problems(cfg, bundle)
    if missing:
        judge = None
        judge_info = {"skipped": _missing_note(missing)}
    elif judge is None:
        judge, judge_info = fit_judge(cfg, bundle, judge_videos, judge_epochs, cfg.seed)
    if single and judge_info is not None:
        judge_info["single_class"] = single
        judge_info["note"] = _warn_single_class(single)
    eval_start = time.perf_counter()
    ev, videos = evaluate_dsae(model, judge, bundle.test, cfg.seed, generated)
    figures = _figures(out, model, bundle.test, videos, title)
    part = {
        "posterior": model.config.posterior,
        "train": {**train_summary(result.summary), "seconds": train_seconds},
        "evaluation": ev,
        "evaluation_seconds": time.perf_counter() - eval_start,
        "figures": figures,
    }
    return part, judge, judge_info


@register_experiment(
    NAME,
    "Source 002: DSAE on sprite videos; is content in f and motion in z (judge accuracy, IS, swap grid)?",
    reads_data=True,
)
def run_sprites(
    out_dir: Path,
    seed: int = 0,
    overrides: list[str] | None = None,
    preset: str | None = None,
    progress: bool = True,
    data: str | Path | None = None,
    judge_videos: int = JUDGE_VIDEOS,
    judge_epochs: int = JUDGE_EPOCHS,
    generated: int = GENERATED_VIDEOS,
) -> dict[str, Any]:
    start = time.perf_counter()
    out = Path(out_dir)
    cfg = experiment_config(NAME, seed, [*data_overrides(data), *(overrides or [])], preset, progress)
    part, _, judge_info = _train_and_evaluate(cfg, out, None, judge_videos, judge_epochs, generated, NAME)
    if not part:
        return {}
    summary = {**_summary(part["evaluation"], judge_info), "wall_seconds": time.perf_counter() - start}
    metrics = {
        **header(NAME, seed, preset, cfg),
        "summary": summary,
        "claims": _claims(summary, judge_info),
        "thresholds": {"judge_accuracy_min": JUDGE_ACCURACY_MIN, "fixed_f_attribute_min": FIXED_F_ATTRIBUTE_MIN,
                       "fixed_z_action_min": FIXED_Z_ACTION_MIN},
        "published_dsae": PUBLISHED_DSAE,
        "published_cdsvae": PUBLISHED_CDSVAE,
        "judge": judge_info,
        **part,
        "wall_seconds": summary["wall_seconds"],
    }
    return write_metrics(out, metrics)


@register_experiment(
    COMPARE_NAME,
    "Source 002: DSAE with the factorized vs the full dynamics posterior, same data, steps and seed, side by side",
    reads_data=True,
)
def run_sprites_posteriors(
    out_dir: Path,
    seed: int = 0,
    overrides: list[str] | None = None,
    preset: str | None = None,
    progress: bool = True,
    data: str | Path | None = None,
    judge_videos: int = JUDGE_VIDEOS,
    judge_epochs: int = JUDGE_EPOCHS,
    generated: int = GENERATED_VIDEOS,
) -> dict[str, Any]:
    start = time.perf_counter()
    out = Path(out_dir)
    judge, judge_info = None, None
    runs: dict[str, Any] = {}
    cfg = None
    for posterior in ("factorized", "full"):
        cfg = experiment_config(NAME, seed, [*data_overrides(data), *(overrides or [])], preset, progress,
                                extra=(f"model.posterior={posterior}",))
        part, judge, info = _train_and_evaluate(cfg, out / posterior, judge, judge_videos, judge_epochs, generated,
                                                f"{NAME} ({posterior} q(z))")
        if not part:
            return {}
        judge_info = judge_info or info
        runs[posterior] = {"summary": _summary(part["evaluation"], judge_info), **part}
    assert cfg is not None and judge_info is not None
    keys = list(runs["factorized"]["summary"])
    summary = {f"{k}.{p}": runs[p]["summary"][k] for k in keys for p in runs}
    summary["wall_seconds"] = time.perf_counter() - start
    metrics = {
        **header(COMPARE_NAME, seed, preset, cfg),
        "summary": summary,
        "claims": {f"{c}.{p}": v for p in runs for c, v in _claims(runs[p]["summary"], judge_info).items()},
        "published_dsae": PUBLISHED_DSAE,
        "published_cdsvae": PUBLISHED_CDSVAE,
        "judge": judge_info,
        "runs": runs,
        "wall_seconds": summary["wall_seconds"],
    }
    return write_metrics(out, metrics)
