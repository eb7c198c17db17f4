"""Named end-to-end experiments (``seqvae experiment NAME``): data -> train -> analysis -> metrics + figures.

Each experiment lives in its domain package (``seqvae.domains.NAME.experiment``, or a plugin package) and
registers itself with :func:`register_experiment`; an experiment composes library parts and holds no model
or training code of its own. This module names no experiment: the registry finds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from seqvae.errors import ConfigError
from seqvae.registry import Registry

ExperimentFn = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Experiment:
    """An experiment's name, one-line description and entry point.

    ``run(out_dir: Path, seed: int, overrides: list[str], preset: str | None, progress: bool) -> metrics``
    writes ``metrics.json`` and its figures into ``out_dir`` and returns the metrics. An experiment that
    ``reads_data`` also takes ``data``: a path to real data to use instead of its built-in generator.
    """

    name: str
    help: str
    run: ExperimentFn
    reads_data: bool = False


EXPERIMENTS: Registry[Experiment] = Registry("experiment")


def register_experiment(name: str, help: str, reads_data: bool = False) -> Callable[[ExperimentFn], ExperimentFn]:
    def deco(fn: ExperimentFn) -> ExperimentFn:
        EXPERIMENTS.register(name, Experiment(name, help, fn, reads_data))
        return fn

    return deco


def available() -> dict[str, Experiment]:
    """All registered experiments (the plugins are imported on first use), by name."""
    return dict(EXPERIMENTS.items())


def run_experiment(
    name: str,
    out_dir: str | Path,
    seed: int = 0,
    overrides: list[str] | tuple[str, ...] = (),
    preset: str | None = None,
    progress: bool = True,
    data: str | Path | None = None,
    report: bool = True,
) -> dict[str, Any]:
    """Run experiment ``name`` into ``out_dir`` and return its metrics; ``data`` replaces its built-in data.

    With ``report`` the run's ``report.html`` (:func:`seqvae.report.build_report`) is written at the end.
    """
    exps = available()
    if name not in exps:
        raise ConfigError(f"unknown experiment {name!r}; available: {', '.join(exps)}")
    exp = exps[name]
    extra: dict[str, Any] = {}
    if data is not None:
        if not exp.reads_data:
            readers = ", ".join(e.name for e in exps.values() if e.reads_data) or "none"
            raise ConfigError(f"experiment {name} uses its own data and takes no --data (experiments that do: {readers})")
        extra["data"] = data
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics = exp.run(out, seed=seed, overrides=list(overrides), preset=preset, progress=progress, **extra)
    if metrics and report:  # not in the extra processes of a multi-process run, which return no metrics
        from seqvae.report import build_report

        build_report(out, seed=seed)
    return metrics
