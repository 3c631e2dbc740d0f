"""The store: the one place that talks to the database.

Everything above it (sync, evaluation, alerts, CLI) asks the ``Store`` for
what it needs in domain terms and gets plain values back: through its
methods, or, where several changes must commit together (alert state and
the outbox), through the ``Transaction`` that ``transaction()`` yields. SQL
stays in this package, and the store depends on types only
(``monitor.interfaces``, ``monitor.facts``, ``monitor.findings``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from monitor.errors import ConfigError, StoreError
from monitor.facts import (
    FactsQuery,
    FunnelFacts,
    SlaFold,
    SlaOutcomes,
    SlaRecord,
    SourceStatus,
    StageOpen,
)
from monitor.interfaces import Batch, Cursor, PersonStage
from monitor.store import breakdown as _breakdown
from monitor.store import bulk as _bulk
from monitor.store import engine as _engine
from monitor.store import facts as _facts
from monitor.store import leases as _leases
from monitor.store import loading as _loading
from monitor.store import rollups as _rollups
from monitor.store import sla as _sla
from monitor.store import sla_folds as _sla_folds
from monitor.store import stalls as _stalls
from monitor.store import writes as _writes
from monitor.store.schema import records, source_status, sync_cursors
from monitor.store.transaction import Transaction


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine.open_engine(url)
        self._analysed = self._unanalysed = 0  # rows written, for _keep_statistics
        self._kept = _facts.Kept()
        self._sla_records = _sla.KeptRecords()
        self._decoded_folds = _sla_folds.DecodedOutcomes()
        self._loads: dict[str, _loading.Loading] = {}

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def sqlite_file(self) -> Path | None:
        """The database file, on SQLite with a file; None otherwise."""
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return Path(str(url.database))

    @property
    def shared_across_threads(self) -> bool:
        """Whether another thread sees the same database: not so for an
        in-memory SQLite database, which is one per connection."""
        return self.dialect != "sqlite" or self.sqlite_file is not None

    def upgrade(self) -> tuple[str | None, str | None]:
        return _engine.upgrade(self.engine)

    def check_readable(self, zone: ZoneInfo) -> None:
        """For a command that must change nothing (``backtest``): raise
        unless the schema is current and the day rollups are in ``zone``,
        where ``upgrade`` and ``use_zone`` would migrate or rebuild them
        under a running service."""
        current = _engine.current_revision(self.engine)
        if current is None:
            raise ConfigError("no data in the database yet: run `alignmon sync` first")
        head = _engine.head_revision(self.engine)
        if current != head:
            raise StoreError(
                f"the database schema is at revision {current} and this alignmon reads {head}: "
                "bring the older of the two up to date (`alignmon db upgrade` migrates the "
                "database)"
            )
        with self.begin() as conn:
            stored = _rollups.current_zone(conn)
        if stored is None:
            raise ConfigError(
                "the day rollups are not counted yet: run `alignmon sync` (or start the "
                "service) first"
            )
        if stored != zone.key:
            raise ConfigError(
                f"timezone: the database's day rollups are counted in {stored} and this config "
                f"uses {zone.key}; a read-only command rebuilds nothing, so use the timezone the "
                "service runs with"
            )

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction; database errors become one StoreError."""
        with self._errors(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Database errors as one StoreError."""
        try:
            yield
        except OperationalError as exc:
            if self.dialect == "sqlite" and "database is locked" in str(exc.orig):
                raise StoreError(
                    f"database is locked: another process held a write transaction on "
                    f"{self.engine.url.database} for longer than the "
                    f"{_engine.sqlite_timeout(make_url(self.url)):g}s busy timeout; this work is "
                    "retried at its next run (raise it with ?timeout=<seconds> in the database URL)"
                ) from exc
            raise StoreError(f"database error: {_engine.brief(exc)}") from exc
        except SQLAlchemyError as exc:
            if isinstance(exc.__cause__, StoreError):
                raise exc.__cause__ from None
            # Not chained: PostgreSQL's DETAIL repeats the refused row (names,
            # e-mails), and a logged traceback would print it.
            raise StoreError(f"database error: {_engine.brief(exc)}") from None

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Alert state, silences and the outbox, changed in one transaction."""
        with self.begin() as conn:
            yield Transaction(conn)

    # -- sync -------------------------------------------------------------

    @contextmanager
    def loading(self, source: str) -> Iterator[None]:
        """Mark the ``write_batch`` calls for ``source`` until the end of the
        block as one sync's, made one after another from one thread (see
        ``loading.Loading``)."""
        load = self._loads[source] = _loading.Loading(self.engine, source)
        try:
            yield
        finally:
            del self._loads[source]
            with self._errors():
                load.close()
                if self.dialect == "postgresql":
                    self._keep_statistics(0)

    def write_batch(self, source: str, object_type: str, batch: Batch, at: datetime) -> None:
        load = self._loads.get(source)
        if load is None:
            with self.begin() as conn:
                _writes.write_batch(conn, source, object_type, batch, at)
            new = False
        else:
            with self._errors():
                conn = load.connection()
                with conn.begin():
                    first = load.first_load(conn, object_type)
                    new = _writes.write_batch(
                        conn, source, object_type, batch, at, first_load=first
                    )
        if self.dialect == "postgresql":
            self._keep_statistics(len(batch.records), looked_up=not new)

    def _keep_statistics(self, written: int, *, looked_up: bool = True) -> None:
        """PostgreSQL plans from table statistics that autovacuum refreshes
        only now and then: during a first sync into an empty table every
        lookup of stored versions would be planned as a full scan of a
        table still thought empty, each batch slower than the last. As a
        bulk loader does, refresh them once the rows written since the last
        refresh reach a fifth of what was there — when the next lookups
        need them: a first load that reads nothing back (``looked_up``
        false) refreshes them once, when the sync ends."""
        self._unanalysed += written
        if looked_up and self._unanalysed >= max(5_000, self._analysed // 5):
            with self.begin() as conn:
                conn.execute(text("ANALYZE records"))
            self._analysed += self._unanalysed
            self._unanalysed = 0

    def cursor(self, source: str, object_type: str) -> Cursor | None:
        with self.begin() as conn:
            return _writes.load_cursor(conn, source, object_type)

    def reset_cursors(self, source: str) -> None:
        with self.begin() as conn:
            conn.execute(delete(sync_cursors).where(sync_cursors.c.source == source))

    def record_sync(
        self,
        source: str,
        at: datetime,
        *,
        ok: bool,
        error: str | None = None,
        records_seen: int = 0,
        rejected: int = 0,
    ) -> None:
        values: dict[str, object] = {
            "last_attempt_at": at,
            "last_error": None if ok else error,
            "last_records": records_seen,
            "last_rejected": rejected,
        }
        if ok:
            values["last_success_at"] = at
        with self.begin() as conn:
            stmt = _bulk.insert_or_update(conn, source_status).values(source=source, **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=["source"], set_=values))

    def source_statuses(self) -> dict[str, SourceStatus]:
        with self.begin() as conn:
            rows = conn.execute(select(source_status)).mappings().all()
        return {row["source"]: SourceStatus(**row) for row in rows}

    def has_records(self, source: str) -> bool:
        """Whether ``source`` has any live record stored."""
        query = (
            select(records.c.id)
            .where(records.c.source == source, records.c.deleted.is_(False))
            .limit(1)
        )
        with self.begin() as conn:
            return conn.execute(query).first() is not None

    def record_count(self, source: str | None = None, *, include_deleted: bool = False) -> int:
        query = select(func.count()).select_from(records)
        if source is not None:
            query = query.where(records.c.source == source)
        if not include_deleted:
            query = query.where(records.c.deleted.is_(False))
        with self.begin() as conn:
            return int(conn.execute(query).scalar_one())

    # -- evaluation -------------------------------------------------------

    def funnel_facts(self, query: FactsQuery) -> FunnelFacts:
        facts = self._facts_in_zone(query)
        if facts is None:  # first evaluation after an upgrade or a timezone change
            self.use_zone(query.zone)
            facts = self._facts_in_zone(query)
        if facts is None:
            raise StoreError(
                f"the day rollups were rebuilt in another timezone during this evaluation, but "
                f"this configuration uses {query.zone.key}: every process sharing this database "
                "must use the same timezone"
            )
        return facts

    def _facts_in_zone(self, query: FactsQuery) -> FunnelFacts | None:
        """The facts, read while the rollups are held in the query's zone;
        None if they are in another."""
        with self.begin() as conn:
            if _rollups.current_zone(conn) != query.zone.key:
                return None
            facts = _facts.funnel_facts(conn, query, self._kept)
            return _breakdown.with_breakdown(conn, query, facts, self._kept.keys)

    def use_zone(self, zone: ZoneInfo) -> None:
        """Keep the day rollups in ``zone``: rebuilt from the records if they
        are in another (a changed ``timezone``, or a database upgraded from
        before rollups) — once, not per evaluation."""
        with self.begin() as conn:
            if _rollups.current_zone(conn) == zone.key:
                return
        with self.begin() as conn:
            _rollups.ensure_zone(conn, zone, datetime.now(UTC))

    def acquire_lease(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        with self.begin() as conn:
            return _leases.acquire(conn, name, holder, now, until)

    def release_lease(self, name: str, holder: str) -> None:
        with self.begin() as conn:
            _leases.release(conn, name, holder)

    def release_leases(self, holder: str) -> None:
        with self.begin() as conn:
            _leases.release_all(conn, holder)

    def clear_leases(self) -> None:
        with self.begin() as conn:
            _leases.clear(conn)

    def ping(self) -> None:
        """Raise StoreError unless the database answers."""
        with self.begin() as conn:
            conn.execute(select(1))

    def sla_records(
        self, source: str, stage: str, segment: Mapping[str, str], since: datetime, as_of: datetime
    ) -> list[SlaRecord]:
        """Every record an SLA rule judges, none folded."""
        return list(self.sla_records_by_id(source, stage, segment, since, as_of).values())

    def sla_records_by_id(
        self,
        source: str,
        stage: str,
        segment: Mapping[str, str],
        since: datetime,
        as_of: datetime,
        folded: Sequence[tuple[datetime, datetime]] = (),
        unsettled: Mapping[date, Sequence[int]] | None = None,
    ) -> dict[int, SlaRecord]:
        """The records an SLA rule judges, by id (``monitor.store.sla``)."""
        with self.begin() as conn:
            return _sla.sla_records(
                conn, source, stage, segment, since, as_of, folded, unsettled, self._sla_records
            )

    def sla_folds(
        self, rule: str, fingerprint: str, since: datetime, as_of: datetime
    ) -> tuple[list[SlaFold], dict[date, list[int]]]:
        """The rule's folded outcomes usable at ``as_of`` and the ids of
        the records of those days still to judge (``sla_folds.load``)."""
        with self.begin() as conn:
            return _sla_folds.load(conn, rule, fingerprint, since, as_of, self._decoded_folds)

    def sla_span_records(
        self,
        source: str,
        stage: str,
        segment: Mapping[str, str],
        spans: Sequence[tuple[datetime, datetime]],
    ) -> dict[date, list[tuple[int, SlaRecord]]]:
        with self.begin() as conn:
            return _sla_folds.span_records(conn, source, stage, segment, spans)

    def save_sla_folds(
        self,
        rule: str,
        source: str,
        fingerprint: str,
        folded_at: datetime,
        fold: Mapping[date, tuple[datetime, Sequence[SlaOutcomes], Sequence[int]]],
        keep_from: date,
    ) -> None:
        with self.begin() as conn:
            _sla_folds.save(conn, rule, source, fingerprint, folded_at, fold, keep_from)

    def stages_open(
        self,
        source: str,
        segment: Mapping[str, str],
        stalled_before: Mapping[PersonStage, datetime],
        as_of: datetime,
    ) -> dict[PersonStage, StageOpen]:
        with self.begin() as conn:
            return _stalls.stages_open(conn, source, segment, stalled_before, as_of)

    def reports_closures(self, source: str) -> bool:
        with self.begin() as conn:
            return _stalls.reports_closures(conn, source)
