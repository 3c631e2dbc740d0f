"""Replays shared by the test workers of one run.

A session fixture is built once per worker, and with ``--dist loadfile``
the two files that judge the same month (signal quality, lifecycle) may run
on different workers: each would replay it, minutes of evaluations. Here the
first worker to ask replays it and leaves the result on disk, in the run's
base temporary directory (the parent of the workers' own); a worker asking
meanwhile waits on the lock instead of replaying it again, then reads it.
Without workers (``-n 0``) there is no one to share with: it just replays.
"""

from __future__ import annotations

import fcntl
import os
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.scenarios.backtest import Backtest, Cadence
from tests.scenarios.catalogue import Case, replay


def shared_replay(
    case: Case, cadence: Cadence, tmp_path_factory: pytest.TempPathFactory
) -> Backtest:
    """``case`` replayed at ``cadence``, once for all the run's workers
    (known by its name, window and cadence)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return replay(case, tmp_path_factory.mktemp(case.name), cadence)
    window = f"{case.start:%Y%m%dT%H%M}-{case.end:%Y%m%dT%H%M}"
    folder = tmp_path_factory.getbasetemp().parent / f"replay-{case.name}-{window}-{cadence}"
    folder.mkdir(exist_ok=True)
    saved = folder / "backtest.pickle"
    with _exclusive(folder / "lock"):
        if saved.exists():
            return pickle.loads(saved.read_bytes())  # noqa: S301 (written by this run)
        result = replay(case, folder, cadence)
        partial = saved.with_suffix(".partial")
        partial.write_bytes(pickle.dumps(result))
        partial.replace(saved)
        return result


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
