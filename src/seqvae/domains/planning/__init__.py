"""OMPL integration: PRM/RRT* with a learned-sampler mixture, near-optimal paths, planning data sets.

Importing this package does not import OMPL; the planning functions raise
:class:`~seqvae.errors.ConfigError` with an install hint when OMPL is missing. It registers the
``planning`` data kind, the planning experiment and its figures.
"""


from seqvae.domains.planning.dataset import (
    build_dataset,
    held_out_problems,
    load_dataset,
    problems_from_dataset,
    row_grids,
    save_dataset,
)
from seqvae.domains.planning.ompl_planner import (
    PlanResult,
    Problem,
    Sampler,
    make_space_information,
    ompl_available,
    plan_prm,
    plan_rrtstar,
    point_optimal_cost,
    shortest_path,
)

__all__ = [
    "PlanResult",
    "Problem",
    "Sampler",
    "build_dataset",
    "held_out_problems",
    "load_dataset",
    "make_space_information",
    "ompl_available",
    "plan_prm",
    "plan_rrtstar",
    "point_optimal_cost",
    "problems_from_dataset",
    "row_grids",
    "save_dataset",
    "shortest_path",
]

from seqvae.domains.planning import data, experiment, figures  # noqa: E402, F401  (registration)
