"""``alignmon sync`` on a terminal: a bar per object type with the records
pulled so far, of the total where the CRM reports one, their rate and the
time left.

A first backfill of 100k contacts takes minutes; without this it is
minutes of silence. Nothing is drawn when stderr is a pipe, cron or CI (or
when logs are JSON lines): the closing summary lines say what was synced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from monitor.interfaces import Progress as SyncProgress


class _Count(ProgressColumn):
    """``12,400 of 98,000 records``, or ``12,400 records`` with no total."""

    def render(self, task: Task) -> Text:
        done = f"{int(task.completed):,}"
        if task.total is not None:
            done = f"{done} of {int(task.total):,}"
        return Text(f"{done} records")


class _Rate(ProgressColumn):
    """Records a second since the object type's first page (blank before a
    second page): steadier than rich's recent samples when pages are slow."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed
        if not elapsed or not task.completed:
            return Text("")
        return Text(f"{task.completed / elapsed:,.0f}/s")


@contextmanager
def sync_bars(
    console: Console, *, draw: bool = True
) -> Iterator[Callable[[str], SyncProgress] | None]:
    """A factory of progress callbacks, one per source, drawing on
    ``console`` while the block runs; None when ``console`` is no terminal
    or not to ``draw`` on (its lines must all be JSON)."""
    if not draw or not console.is_terminal:
        yield None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        _Count(),
        _Rate(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bars:
        tasks: dict[str, TaskID] = {}

        def for_source(source: str) -> SyncProgress:
            def update(object_type: str, seen: int, total: int | None) -> None:
                key = f"{source}/{object_type}"
                if key not in tasks:
                    tasks[key] = bars.add_task(key, total=None)
                bars.update(tasks[key], completed=seen, total=total)

            return update

        yield for_source
