"""Source 004 (dmol.pub VAE chapter, §6.7): a VAE on the configurations of a 2-D bead-spring polymer.

``seqvae experiment polymer`` simulates a 12-bead chain by Langevin dynamics (:mod:`seqvae.domains.polymer.data`),
aligns and flattens its frames, trains the chapter's VAE (``polymer.yaml`` next to this module: latent 2, four hidden
layers of 256) and then:

* encodes every frame and draws the trajectory in latent space, coloured by simulation time;
* generates configurations (decoder means of z ~ N(0, I)) and compares them with the MD training frames:
  1-D Wasserstein distances of all pairwise distances, bond lengths, bond angles, radius of gyration and
  potential energy; the fraction of structures with a bond stretched beyond ``STRETCH`` x the rest length;
* does the same for the baseline: a multivariate Gaussian fitted to the same aligned coordinates;
* optimises in latent space (Adam on z through the decoder, from the latent means of the most compact and
  most extended training frames) to minimise and maximise the radius of gyration, and reports the
  potential energy of what it finds next to the training range.

Everything is in reduced Lennard-Jones units (σ, ε, τ). ``metrics.json`` holds every number, a ``summary``
and ``claims``: the VAE beats the Gaussian on the mean W1 over bond lengths and Rg, stretches fewer bonds,
and latent optimisation reaches below the training Rg minimum.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqvae import plots
from seqvae.analysis.latent import latent_means, optimise_latent
from seqvae.analysis.metrics import gaussian_baseline, wasserstein_1d
from seqvae.data.prepare import DataBundle
from seqvae.domains.polymer import data as polymer
from seqvae.domains.polymer import figures as polymer_figures
from seqvae.errors import ConfigError, DataError
from seqvae.experiments import register_experiment
from seqvae.experiments.common import (
    experiment_config,
    header,
    prior_z,
    save_learning_curves,
    test_metrics,
    train_summary,
    write_metrics,
)
from seqvae.io import save_npz_atomic
from seqvae.models.base import VAE, parse_model_config
from seqvae.training import fit

NAME = "polymer"
GENERATED = 2000  # structures drawn from the VAE and from the Gaussian baseline
STRETCH = 1.5  # a bond longer than STRETCH x BOND_R0 is "stretched"
OPT_STARTS = 8  # latent optimisation: starts per direction (latent means of the most extreme frames)
OPT_STEPS = 400
OPT_LR = 0.05
SHOWN = 6  # structures per row in structures.png
GAUSSIAN_LIKELIHOODS = ("gaussian", "gaussian-learned")


def _check_config(cfg: Any) -> None:
    if cfg.data.kind != "polymer":
        raise ConfigError(f"{NAME} analyses the simulated bead-spring chain (data.kind=polymer), got {cfg.data.kind}")
    model_cfg = parse_model_config(cfg.model)
    kind = getattr(getattr(model_cfg, "likelihood", None), "kind", None)
    if kind not in GAUSSIAN_LIKELIHOODS:
        raise ConfigError(f"{NAME} needs model.likelihood.kind=gaussian or gaussian-learned, got {kind}")


def _to_data(values: np.ndarray | torch.Tensor, bundle: DataBundle) -> Any:
    return bundle.normalizer.inverse(values) if bundle.normalizer is not None else values


def _all_means(model: VAE, bundle: DataBundle) -> np.ndarray:
    """Latent means of every frame, in the order of the simulation."""
    means = np.empty((len(bundle.raw), model.latent_dim), dtype=np.float32)
    for name in ("train", "val", "test"):
        idx = bundle.splits.get(name)
        if idx is not None and len(idx):
            means[idx] = latent_means(model, getattr(bundle, name))
    return means


@torch.no_grad()
def _decoded_structures(model: VAE, z: torch.Tensor, bundle: DataBundle) -> np.ndarray:
    """Decoder means of ``z`` as ``(N, n_beads, 2)`` configurations in σ."""
    model.eval()
    flat = _to_data(model.point(model.decode(z)).cpu().numpy().astype(np.float64), bundle)
    return polymer.unflatten(flat)


def compare_structures(
    generated: np.ndarray, reference: dict[str, np.ndarray], bond_r0: float = polymer.BOND_R0
) -> dict[str, Any]:
    """W1 per property of ``generated`` ``(N, n_beads, 2)`` against ``reference`` properties, the fraction of
    structures with a stretched bond, and energy statistics."""
    props = polymer.structure_properties(generated)
    w1 = {k: wasserstein_1d(props[k].ravel(), reference[k].ravel()) for k in polymer.PROPERTY_UNITS}
    energy = props["potential_energy"]
    e_max = float(np.max(reference["potential_energy"]))
    return {
        "w1": w1,
        "mean_w1_bond_rg": 0.5 * (w1["bond_length"] + w1["radius_of_gyration"]),
        "stretched_fraction": float(np.mean(np.any(props["bond_length"] > STRETCH * bond_r0, axis=1))),
        "bond_length_mean": float(props["bond_length"].mean()),
        "bond_length_std": float(props["bond_length"].std()),
        "radius_of_gyration_mean": float(props["radius_of_gyration"].mean()),
        "energy_median": float(np.median(energy)),
        "energy_above_training_max": float(np.mean(energy > e_max)),
        "_props": props,
    }


def _rg_torch(flat: torch.Tensor) -> torch.Tensor:
    x = flat.reshape(flat.shape[0], -1, 2)
    c = x - x.mean(dim=1, keepdim=True)
    return torch.sqrt((c * c).sum(-1).mean(-1))


def latent_optimisation(model: VAE, bundle: DataBundle, means: np.ndarray, rg: np.ndarray) -> dict[str, Any]:
    """Minimise and maximise the decoded radius of gyration by Adam on z, from the latent means of the
    ``OPT_STARTS`` most compact (resp. extended) training frames; the best run of each direction is kept."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    train = bundle.splits["train"]
    order = train[np.argsort(rg[train])]
    out: dict[str, Any] = {}
    try:
        for direction, sign, starts in (("min", 1.0, order[:OPT_STARTS]), ("max", -1.0, order[::-1][:OPT_STARTS])):
            z0 = torch.as_tensor(means[starts], dtype=next(model.parameters()).dtype)

            def objective(z: torch.Tensor, sign: float = sign) -> torch.Tensor:
                return sign * _rg_torch(_to_data(model.point(model.decode(z)), bundle))

            z, history, path = optimise_latent(objective, z0, OPT_STEPS, OPT_LR)
            values = sign * history  # radius of gyration per step and start
            best = int(np.argmin(sign * values[-1]))
            structure = _decoded_structures(model, z[best : best + 1], bundle)[0]
            props = polymer.structure_properties(structure[None])
            out[direction] = {
                "radius_of_gyration": float(props["radius_of_gyration"][0]),
                "start_radius_of_gyration": float(values[0, best]),
                "potential_energy": float(props["potential_energy"][0]),
                "max_bond_length": float(props["bond_length"].max()),
                "min_bond_length": float(props["bond_length"].min()),
                "min_nonbonded_distance": float(_min_nonbonded(structure)),
                "z": z[best].cpu().numpy(),
                "z_norm": float(z[best].norm()),
                "_history": values[:, best],
                "_path": path[:, best],
                "_structure": structure,
            }
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
    return out


def _min_nonbonded(xy: np.ndarray) -> float:
    n = len(xy)
    i, j = np.triu_indices(n, k=polymer.LJ_MIN_SEPARATION)
    return float(np.min(np.linalg.norm(xy[i] - xy[j], axis=-1))) if len(i) else float("nan")


def _public(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if not k.startswith("_")}


def _figures(
    out: Path,
    means: np.ndarray,
    times: np.ndarray,
    md: np.ndarray,
    reference: dict[str, np.ndarray],
    sets: dict[str, dict[str, Any]],
    structures: dict[str, np.ndarray],
    opt: dict[str, Any],
    rg_range: tuple[float, float],
) -> list[str]:
    names = []
    plots.save_figure(
        polymer_figures.plot_latent_trajectory(means, times, "τ", "polymer: latent means of the MD trajectory"),
        out / "latent_trajectory.png",
    )
    names.append("latent_trajectory.png")
    dists = {"MD (training frames)": reference, **{k: v["_props"] for k, v in sets.items()}}
    scores = {k: v["w1"] for k, v in sets.items()}
    plots.save_figure(
        polymer_figures.plot_property_distributions(dists, polymer.PROPERTY_UNITS, scores,
                                          title="polymer: generated structures against molecular dynamics"),
        out / "property_distributions.png",
    )
    names.append("property_distributions.png")
    rows = [list(md[:SHOWN]), *(list(s[:SHOWN]) for s in structures.values())]
    titles = [[f"Rg {polymer.radius_of_gyration(c):.2f}" for c in row] for row in rows]
    plots.save_figure(
        polymer_figures.plot_chain_grid(rows, ["MD", *structures], titles, "polymer: MD frames and generated structures"),
        out / "structures.png",
    )
    names.append("structures.png")
    plots.save_figure(
        polymer_figures.plot_latent_optimisation(
            means,
            {f"{k} Rg": v["_path"] for k, v in opt.items()},
            {f"{k} Rg": v["_history"] for k, v in opt.items()},
            {f"{k} Rg = {v['radius_of_gyration']:.2f} σ, U = {v['potential_energy']:.3g} ε": v["_structure"]
             for k, v in opt.items()},
            rg_range,
            title="polymer: radius of gyration optimised in latent space",
        ),
        out / "latent_optimisation.png",
    )
    names.append("latent_optimisation.png")
    save_learning_curves(out, "polymer: learning curves")
    names.append("learning_curves.png")
    return names


@register_experiment(
    NAME,
    "Source 004 (dmol.pub §6.7): VAE on a 2-D bead-spring polymer; generation vs MD and a Gaussian, latent optimisation",
)
def run_polymer(
    out_dir: Path, seed: int = 0, overrides: list[str] | None = None, preset: str | None = None, progress: bool = True
) -> dict[str, Any]:
    start = time.perf_counter()
    out = Path(out_dir)
    cfg = experiment_config(NAME, seed, list(overrides or []), preset, progress)
    _check_config(cfg)
    result = fit(cfg, out)
    if not result.is_main_process:  # an extra DDP process: the main one analyses and writes
        return {}
    train_seconds = time.perf_counter() - start
    model, bundle = result.model, result.bundle
    if len(bundle.splits.get("train", ())) < 2 * OPT_STARTS:
        raise DataError(f"{NAME}: the training split has {len(bundle.splits.get('train', ()))} frames; need {2 * OPT_STARTS}")
    frames = polymer.unflatten(np.asarray(bundle.raw, dtype=np.float64))
    md = frames[bundle.splits["train"]]
    reference = polymer.structure_properties(md)
    rg_all = polymer.radius_of_gyration(frames)
    means = _all_means(model, bundle)

    gen = torch.Generator().manual_seed(seed)
    vae_structures = _decoded_structures(model, prior_z(model, GENERATED, gen), bundle)
    gauss_flat, _ = gaussian_baseline(md.reshape(len(md), -1), GENERATED, seed)
    structures = {"VAE": vae_structures, "Gaussian": polymer.unflatten(gauss_flat)}
    sets = {name: compare_structures(s, reference) for name, s in structures.items()}
    held_out = bundle.splits.get("test")
    if held_out is not None and len(held_out):
        sets["MD held-out"] = compare_structures(frames[held_out], reference)
    opt = latent_optimisation(model, bundle, means, rg_all)

    e_train = reference["potential_energy"]
    rg_train = reference["radius_of_gyration"]
    rg_range = (float(rg_train.min()), float(rg_train.max()))
    figures = _figures(out, means, np.asarray(bundle.labels["time"]), md, reference, sets, structures, opt, rg_range)
    save_npz_atomic(
        out / "structures.npz",
        vae=vae_structures.astype(np.float32),
        gaussian=structures["Gaussian"].astype(np.float32),
        rg_min=opt["min"]["_structure"].astype(np.float32),
        rg_max=opt["max"]["_structure"].astype(np.float32),
        latent_means=means,
    )
    test = test_metrics(model, bundle.test, cfg, bundle.normalizer) if len(bundle.test) else {}
    vae, gauss = sets["VAE"], sets["Gaussian"]
    claims = {
        "vae_beats_gaussian_w1_bond_rg": bool(vae["mean_w1_bond_rg"] < gauss["mean_w1_bond_rg"]),
        "vae_fewer_stretched_bonds": bool(vae["stretched_fraction"] < gauss["stretched_fraction"]),
        "rg_below_training_min": bool(opt["min"]["radius_of_gyration"] < rg_range[0]),
        "rg_above_training_max": bool(opt["max"]["radius_of_gyration"] > rg_range[1]),
    }
    summary = {
        "frames": len(frames),
        "vae_mean_w1_bond_rg": vae["mean_w1_bond_rg"],
        "gaussian_mean_w1_bond_rg": gauss["mean_w1_bond_rg"],
        "vae_stretched_fraction": vae["stretched_fraction"],
        "gaussian_stretched_fraction": gauss["stretched_fraction"],
        "training_rg_min": rg_range[0],
        "training_rg_max": rg_range[1],
        "optimised_rg_min": opt["min"]["radius_of_gyration"],
        "optimised_rg_max": opt["max"]["radius_of_gyration"],
        "optimised_rg_min_energy": opt["min"]["potential_energy"],
        "optimised_rg_max_energy": opt["max"]["potential_energy"],
        "training_energy_min": float(e_train.min()),
        "training_energy_max": float(e_train.max()),
        "test_elbo": test.get("elbo"),
        "wall_seconds": time.perf_counter() - start,
    }
    metrics = {
        **header(NAME, seed, preset, cfg),
        "summary": summary,
        "claims": claims,
        "data": {
            "frames": len(frames),
            "beads": frames.shape[1],
            "training_frames": len(md),
            "training_energy_median": float(np.median(e_train)),
            "training_rg_median": float(np.median(rg_train)),
            "units": polymer.PROPERTY_UNITS,
        },
        "generated": {name: _public(s) for name, s in sets.items()},
        "generated_count": GENERATED,
        "stretch_threshold": STRETCH * polymer.BOND_R0,
        "latent_optimisation": {k: _public(v) for k, v in opt.items()} | {"steps": OPT_STEPS, "lr": OPT_LR,
                                                                         "starts": OPT_STARTS},
        "train": {**train_summary(result.summary), "seconds": train_seconds},
        "test": test,
        "figures": figures,
        "wall_seconds": summary["wall_seconds"],
    }
    return write_metrics(out, metrics)
