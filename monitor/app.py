"""The application context every command shares: the validated config, the
store (migrated on open), the clock and the connectors, built once.

CLI commands and the scheduled service both call into this object; neither
builds a store or a connector by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import connectors
from monitor.config.loader import LoadedConfig
from monitor.config.models import Config
from monitor.errors import ConfigError
from monitor.evaluate import Evaluation, evaluate_goals
from monitor.interfaces import Clock, Connector, Progress, utc_now
from monitor.store import Store
from monitor.sync import SyncResult, sync_source

log = logging.getLogger(__name__)


class App:
    def __init__(self, loaded: LoadedConfig, clock: Clock = utc_now) -> None:
        self.loaded = loaded
        self.config: Config = loaded.config
        self.clock = clock
        self.store = Store(self.config.database)
        before, after = self.store.upgrade()
        if before != after:
            log.info("database schema upgraded from %s to %s", before or "empty", after)
        self._connectors: dict[str, Connector] = {}

    def connector(self, name: str) -> Connector:
        if name not in self.config.sources:
            valid = ", ".join(sorted(self.config.sources))
            raise ConfigError(f"no source named {name!r} (sources: {valid})")
        if name not in self._connectors:
            self._connectors[name] = connectors.create(name, self.config.sources[name])
        return self._connectors[name]

    def sync(
        self,
        only: str | None = None,
        *,
        full: bool = False,
        progress: Callable[[str], Progress] | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> list[SyncResult]:
        names = [only] if only else list(self.config.sources)
        results = []
        for name in names:
            connector = self.connector(name)
            if full:
                self.store.reset_cursors(name)
            results.append(
                sync_source(
                    self.store,
                    name,
                    connector,
                    self.clock,
                    full=full,
                    progress=progress(name) if progress else None,
                    stop=stop,
                )
            )
        return results

    def evaluate(self, as_of: datetime | None = None, goal: str | None = None) -> Evaluation:
        return evaluate_goals(self.config, self.store, as_of or self.clock(), goal)

    def close(self) -> None:
        for connector in self._connectors.values():
            connector.close()
        self.store.close()
