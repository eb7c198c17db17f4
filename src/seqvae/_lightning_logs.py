"""Which of Lightning's messages are hidden: only advice known not to apply to seqvae runs.

Everything else Lightning warns about is shown, because it can change a result (for example a resumed
run whose checkpoint state could not be restored). This module imports neither torch nor Lightning, so
the command line can call it before deciding whether it needs them.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

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


def hide_lightning_chatter() -> None:
    """For a command-line process: Lightning's info lines and its harmless warnings hidden, for good."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).addFilter(_DropAdverts())
    _hide_harmless_warnings()


@contextlib.contextmanager
def quiet_lightning(verbose: bool) -> Iterator[None]:
    """Within the block, Lightning's advice that does not apply here is hidden (few workers on tiny data,
    upstream deprecations, adverts); with ``verbose`` off its info lines are hidden too. Other warnings and
    errors always pass."""
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    levels = [lg.level for lg in loggers]
    drop = _DropAdverts()
    for lg in loggers:
        lg.addFilter(drop)
        if not verbose:
            lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            _hide_harmless_warnings()
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.removeFilter(drop)
            lg.setLevel(level)
