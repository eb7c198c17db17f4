"""Which of Lightning's messages are hidden: only advice known not to apply to seqvae runs.

Everything else Lightning warns about is shown, because it can change a result (for example a resumed
run whose checkpoint state could not be restored). This module imports neither torch nor Lightning, so
the command line can call it before deciding whether it needs them.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator

# message patterns (regular expressions) of Lightning warnings that never matter here
HARMLESS_WARNINGS = (
    ".*does not have many workers.*",  # in-memory tensors are sliced in the main process: workers only cost
    ".*number of training batches.*",  # tiny data sets log once per epoch on purpose
    ".*treespec, LeafSpec.*",  # an upstream deprecation inside Lightning
    ".*exists and is not empty.*",  # a resumed run reuses its directories on purpose (fit clears a fresh one)
)
LIGHTNING_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


class _DropAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in record.getMessage()


def _hide_harmless_warnings() -> None:
    for pattern in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


def _quiet_loggers(verbose: bool, leveled: tuple[str, ...]) -> Callable[[], None]:
    """Lightning's adverts dropped and, with ``verbose`` off, the info lines of the ``leveled`` loggers hidden;
    returns what undoes it."""
    filtered = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    quieted = [] if verbose else [logging.getLogger(name) for name in leveled]
    levels = [lg.level for lg in quieted]
    drop = _DropAdverts()
    for lg in filtered:
        lg.addFilter(drop)
    for lg in quieted:
        lg.setLevel(logging.WARNING)

    def undo() -> None:
        for lg in filtered:
            lg.removeFilter(drop)
        for lg, level in zip(quieted, levels):
            lg.setLevel(level)

    return undo


def hide_lightning_chatter() -> None:
    """For a command-line process: Lightning's info lines and its harmless warnings hidden, for good."""
    _quiet_loggers(verbose=False, leveled=("lightning.pytorch", "lightning.fabric", "lightning"))
    _hide_harmless_warnings()


@contextlib.contextmanager
def quiet_lightning(verbose: bool) -> Iterator[None]:
    """Within the block, Lightning's advice that does not apply here is hidden (few workers on tiny data,
    upstream deprecations, adverts); with ``verbose`` off its info lines are hidden too. Other warnings and
    errors always pass."""
    undo = _quiet_loggers(verbose, leveled=LIGHTNING_LOGGERS)
    try:
        with warnings.catch_warnings():
            _hide_harmless_warnings()
            yield
    finally:
        undo()
