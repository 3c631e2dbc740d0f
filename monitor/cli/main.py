"""``alignmon``: the command line. Parse, call one application function,
print, map errors to exit codes (0 ok, 1 findings at or above --fail-on,
2 usage or config error, 3 a source or Slack unreachable, 130 interrupted).

Business logic lives below this module; every command here is a few lines.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from monitor.cli.config_commands import config_group
from monitor.errors import AlignmonError, ConfigError, SourceError, StoreError

# Every other import is made by the command that needs it: `--version`,
# `--help` and each command load only what they use (the store and
# SQLAlchemy, the config models, the vendor clients, matplotlib), so a
# command starts in a fraction of a second.
if TYPE_CHECKING:
    from sqlalchemy import Column

    from monitor.config.loader import LoadedConfig
    from monitor.service.app import App

log = logging.getLogger(__name__)

# A command's process ends once it has printed. At exit the interpreter's
# collector would trace every object the imports made (about a tenth of a
# status's CPU time) only to free memory the operating system takes back
# anyway: frozen, they are left to it. What must be released is released
# before then by its owner: the store by Context.close, log files by
# logging's own exit hook, standard output and error by the interpreter.
atexit.register(gc.freeze)

EXIT_FINDINGS, EXIT_CONFIG, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 1, 2, 3, 130
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Context:
    def __init__(self, config_path: str | None, log_level: str | None, log_format: str) -> None:
        self.config_path = config_path
        self.log_level = log_level
        self.log_format = log_format
        self._loaded: LoadedConfig | None = None
        self._app: App | None = None

    def loaded(self) -> LoadedConfig:
        """The validated config, with logging set up from it."""
        from monitor.config import loader
        from monitor.service.logs import configure, secrets_in

        if self._loaded is None:
            loaded = loader.load(self.config_path)
            command = click.get_current_context().info_name
            level = self.log_level or ("INFO" if command == "run" else "WARNING")
            configure(level, self.log_format, secrets_in(loaded.config))
            for warning in loaded.warnings:
                tell(warning, style="yellow")
            if loaded.demo:
                tell(
                    "No config file found (--config, $ALIGNMON_CONFIG, ./alignmon.yaml): "
                    "using the built-in demo. `alignmon init` writes a starter file.",
                    style="dim",
                )
            self._loaded = loaded
        return self._loaded

    def app(self, *, read_only: bool = False) -> App:
        from monitor.service.app import App

        if self._app is None:
            self._app = App(self.loaded(), read_only=read_only, json_logs=self.log_format == "json")
        return self._app

    def close(self) -> None:
        if self._app is not None:
            self._app.close()


def _json_logs() -> bool:
    """Whether ``--log-format json`` was given: every stderr line is then JSON."""
    ctx = click.get_current_context(silent=True)
    context = ctx.find_root().obj if ctx is not None else None
    return isinstance(context, Context) and context.log_format == "json"


def tell(text: str, *, style: str = "", level: int = logging.WARNING) -> None:
    """A line for the person running the command, on stderr; with JSON logs
    a log record instead, so a log pipeline can parse every line."""
    if _json_logs():
        log.log(level, "%s", text)
    else:
        err.print(Text(text, style=style))


#: What each error is called on stderr, and the exit code it ends with.
_EXITS: tuple[tuple[type[AlignmonError], str, int], ...] = (
    (ConfigError, "config error", EXIT_CONFIG),
    (SourceError, "source error", EXIT_UNREACHABLE),
    (StoreError, "database error", EXIT_UNREACHABLE),
    (AlignmonError, "error", EXIT_UNREACHABLE),
)


@contextmanager
def errors_to_exit() -> Iterator[None]:
    """One clear line on stderr and the documented exit code; no traceback
    for anything a user can cause."""
    # Messages quote config keys, values and vendor text: escaped, so a
    # "[/b]" in them is printed, not read as markup (or refused by rich).
    try:
        yield
    except AlignmonError as exc:
        from monitor.service.logs import redact

        label, code = next((w, c) for kind, w, c in _EXITS if isinstance(exc, kind))
        if _json_logs():
            log.error("%s: %s", label, redact(str(exc)), extra={"exit_code": code})
        else:
            err.print(f"[red]{label}:[/red] {escape(redact(str(exc)))}")
        sys.exit(code)


def as_of_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--as-of",
        "as_of",
        metavar="T",
        help="Evaluate as if now were T (ISO date or date-time; local time zone if no offset).",
    )(f)


def format_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
    )(f)


def fail_on_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--fail-on",
        type=click.Choice(["warning", "critical"]),
        help="Exit 1 when a finding at or above this severity exists.",
    )(f)


def resolve_as_of(app: App, value: str | None) -> datetime:
    from monitor.evaluate import parse_as_of

    return parse_as_of(value, app.config.zone) if value else app.clock()


def exit_for(findings: list[Any], fail_on: str | None) -> None:
    from monitor.interfaces import Severity

    if fail_on and any(f.severity >= Severity[fail_on.upper()] for f in findings):
        sys.exit(EXIT_FINDINGS)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="Config file (else $ALIGNMON_CONFIG, else ./alignmon.yaml, else the built-in demo).",
)
@click.option(
    "--log-level",
    help="Default: INFO for `run`, WARNING for the other commands.",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.option(
    "--log-format", default="text", show_default=True, type=click.Choice(["text", "json"])
)
@click.version_option(package_name="alignmon")
@click.pass_context
def main(
    ctx: click.Context, config_path: str | None, log_level: str | None, log_format: str
) -> None:
    """Keep sales and marketing aligned on one revenue goal.

    \b
    Example:
      alignmon targets            # the plan, worked back from the revenue goal
      alignmon status --as-of 2026-11-02
    """
    if log_format == "json":  # so that even an error in the config file is a JSON line
        from monitor.service.logs import configure

        configure(log_level or "WARNING", log_format)
    context = Context(config_path, log_level, log_format)
    ctx.obj = context
    ctx.call_on_close(context.close)


def _app(ctx: click.Context, *, read_only: bool = False) -> App:
    context: Context = ctx.obj
    return context.app(read_only=read_only)


@main.command()
@click.option("--source", metavar="NAME", help="Only this source.")
@click.option(
    "--full", is_flag=True, help="Re-read everything instead of changes since the last sync."
)
@click.pass_context
def sync(ctx: click.Context, source: str | None, full: bool) -> None:
    """Pull leads, MQLs, SQLs and deals from the CRM into the store.

    \b
    Example:
      alignmon sync --source hubspot --full
    """
    from monitor.cli.progress import sync_bars
    from monitor.service.logs import redact

    with errors_to_exit():
        app = _app(ctx)
        bars = sync_bars(err, draw=ctx.obj.log_format == "text")
        with bars as progress, _interruptible() as interrupted:
            try:
                results = app.sync(source, full=full, progress=progress, stop=interrupted)
            except KeyboardInterrupt:
                _stopped("records committed before it are kept")
        if interrupted():
            stored = sum(r.records for r in results)
            _stopped(f"{stored:,} records stored")
        failed = False
        for result in results:
            if result.ok:
                detail = ", ".join(f"{n:,} {t}" for t, n in result.by_type.items())
                out.print(f"[green]✓[/green] {result.source}: {detail or 'no changes'}")
                if result.rejected:
                    out.print(
                        f"  [yellow]{result.rejected:,} malformed records skipped (see the log)[/yellow]"
                    )
            else:
                failed = True
                out.print(f"[red]✗[/red] {escape(redact(f'{result.source}: {result.error}'))}")
        if failed:
            sys.exit(EXIT_UNREACHABLE)


@contextmanager
def _interruptible() -> Iterator[Callable[[], bool]]:
    """Ctrl-C asks the sync to stop after the page it is reading, so what it
    pulled is committed with its cursor; a second Ctrl-C stops at once."""
    asked: list[bool] = []

    def handler(signum: int, frame: object) -> None:
        if asked:
            raise KeyboardInterrupt
        asked.append(True)
        tell("stopping after the current page (Ctrl-C again to stop at once)…")

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave Ctrl-C as it is
        yield lambda: False
        return
    try:
        yield lambda: bool(asked)
    finally:
        signal.signal(signal.SIGINT, previous)


def _stopped(stored: str) -> None:
    tell(f"interrupted: {stored}; the next sync resumes from there")
    sys.exit(EXIT_INTERRUPTED)


@main.command()
@click.option("--goal", metavar="NAME", help="Only this goal.")
@as_of_option
@format_option
@click.pass_context
def targets(ctx: click.Context, goal: str | None, as_of: str | None, fmt: str) -> None:
    """The plan: the revenue goal worked back into the volume each stage must deliver.

    \b
    Example:
      alignmon targets --goal q1-new-business --format json
    """
    from monitor.cli import views

    with errors_to_exit():
        app = _app(ctx)
        evaluation = app.evaluate(resolve_as_of(app, as_of), goal)
        if fmt == "json":
            views.dump_json(views.targets_json(evaluation.goals, evaluation.as_of), out)
            return
        for report in evaluation.goals:
            out.print(views.targets_table(report))
            for line in views.plan_limits(report.spend, report.capacity, report.reach):
                out.print(line)


def _pairs(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, float]:
    """Repeated ``KEY=NUMBER`` options as a mapping; ``30%`` is 0.3."""
    out = {}
    for value in values:
        key, sep, number = value.partition("=")
        text = number.strip()
        try:
            parsed: float | None = float(text.removesuffix("%")) / (100 if "%" in text else 1)
        except ValueError:
            parsed = None
        if not sep or not key.strip() or parsed is None:
            raise click.BadParameter(f"{value!r} is not KEY=NUMBER, e.g. lead=40")
        out[key.strip()] = parsed
    return out


@main.command("plan")
@click.option("--goal", metavar="NAME", help="Start from this configured goal.")
@click.option("--revenue", type=float, help="Revenue goal for the period.")
@click.option("--closes", type=int, help="Closes goal for the period (instead of revenue).")
@click.option("--deal-size", type=float, help="Average deal size.")
@click.option(
    "--rate",
    "rates",
    multiple=True,
    callback=_pairs,
    metavar="NAME=R",
    help="A conversion rate, e.g. lead_to_mql=0.3 (repeatable).",
)
@click.option("--visit-to-lead", type=float, help="Same as --rate visit_to_lead=R.")
@click.option(
    "--cost",
    multiple=True,
    callback=_pairs,
    metavar="STAGE=C",
    help="Cost per record, e.g. lead=40.",
)
@click.option("--spend-per-month", type=float, help="Spend that does not grow with volume.")
@click.option("--budget", type=float, help="Marketing budget for the period.")
@click.option(
    "--capacity",
    multiple=True,
    callback=_pairs,
    metavar="STAGE=N",
    help="Records a team can handle per month, e.g. lead=1200 or sql=300.",
)
@click.option(
    "--commit",
    multiple=True,
    callback=_pairs,
    metavar="KEY=V",
    help="A commitment: a stage's volume (mql=600) or a rate (sql_to_won=0.2).",
)
@click.option("--period", type=click.Choice(["month", "quarter", "year"]), help="Default: quarter.")
@format_option
@click.pass_context
def plan_command(ctx: click.Context, fmt: str, goal: str | None, **flags: Any) -> None:
    """The plan without a database: back from revenue, forward from a budget or capacity.

    Back from the goal to the volume each stage needs, what that costs
    against the budget and needs against capacity; forward from the budget
    and each capacity to the revenue they reach, and the goal that fits.
    Starts from the configured goals (auto rates and deal sizes at their
    fallbacks) unless the flags give a goal or a limit of their own.

    \b
    Example:
      alignmon plan --revenue 100000000 --deal-size 50000
      alignmon plan --budget 50000 --cost lead=40 --deal-size 50000 --period month
      alignmon plan --goal q-new-business --rate sql_to_won=0.25 --format json
    """
    from monitor import planner
    from monitor.cli import plan_views, views
    from monitor.config import loader

    with errors_to_exit():
        what_if = planner.WhatIf(
            rates=flags.pop("rates")
            | ({} if flags["visit_to_lead"] is None else {"visit_to_lead": flags["visit_to_lead"]}),
            **{k: v for k, v in flags.items() if k != "visit_to_lead"},
        )
        goals: list[Any] = [None]
        if goal is not None or not what_if.standalone:
            configured = loader.load(ctx.obj.config_path).config.goals
            goals = [planner.find_goal(configured, goal)] if goal else list(configured)
        plans = [planner.plan(g, what_if) for g in goals]
        if fmt == "json":
            views.dump_json(plan_views.plan_json(plans), out)
            return
        for each in plans:
            plan_views.print_plan(each, out)


@main.command()
@as_of_option
@format_option
@fail_on_option
@click.pass_context
def status(ctx: click.Context, as_of: str | None, fmt: str, fail_on: str | None) -> None:
    """Pacing, drift, SLA compliance, findings and open alerts.

    \b
    Example:
      alignmon status --as-of 2026-11-02T09:00 --fail-on critical
    """
    from monitor.cli import views
    from monitor.config.database import shown_database

    with errors_to_exit():
        app = _app(ctx)
        evaluation = app.evaluate(resolve_as_of(app, as_of))
        if fmt == "json":
            from monitor.cli import alert_views

            extra = {
                "sla": [result.to_dict() for _, result in evaluation.sla],
                "alerts": alert_views.alerts_json(app.alert_listing(), app.config.zone)["alerts"],
            }
            extra["delivery_problem"] = app.queue_stats().problem
            extra["database"] = shown_database(app.config.database)
            extra["sources"] = {
                name: {
                    "last_attempt_at": st.last_attempt_at.isoformat()
                    if st.last_attempt_at
                    else None,
                    "last_success_at": st.last_success_at.isoformat()
                    if st.last_success_at
                    else None,
                    "last_error": st.last_error,
                }
                for name, st in app.store.source_statuses().items()
            }
            views.dump_json(views.status_json(evaluation, extra), out)
        else:
            views.print_status(evaluation, out)
            problem = app.queue_stats().problem
            if problem:
                out.print(Text(f"Delivery paused: {problem}", style="red"))
            out.print(Text(f"database: {shown_database(app.config.database)}", style="dim"))
        exit_for(evaluation.findings, fail_on)


@main.command()
@as_of_option
@click.option(
    "--dry-run", is_flag=True, help="Print the findings; change no alert state, send nothing."
)
@fail_on_option
@click.pass_context
def evaluate(ctx: click.Context, as_of: str | None, dry_run: bool, fail_on: str | None) -> None:
    """Reconcile every goal and SLA rule, update alerts, deliver notifications.

    \b
    Example:
      alignmon evaluate --dry-run
    """
    from monitor.cli import views

    with errors_to_exit():
        app = _app(ctx)
        evaluation = app.evaluate(resolve_as_of(app, as_of))
        views.print_findings(evaluation.findings, out)
        if not dry_run:
            recorded = app.record(evaluation)
            delivered = app.deliver()
            out.print(
                f"{recorded.firing} alert(s) firing, {recorded.queued} notification(s) queued, "
                f"{delivered.sent} delivered"
                + (f", {recorded.silenced} silenced" if recorded.silenced else "")
            )
        exit_for(evaluation.findings, fail_on)


@main.command()
@as_of_option
@click.option(
    "--post", is_flag=True, help="Post it to Slack (queued in the outbox, then delivered)."
)
@click.option(
    "--chart",
    "chart_path",
    metavar="PATH",
    help="Where to write the chart PNG (default alignmon-summary-DATE.png in --chart-dir).",
)
@click.option(
    "--chart-dir",
    metavar="DIR",
    envvar="ALIGNMON_CHART_DIR",
    default=".",
    show_envvar=True,
    help="The directory for the chart when --chart names none (default: the working directory; the image sets /tmp, writable under a read-only root).",
)
@click.pass_context
def summary(
    ctx: click.Context, as_of: str | None, post: bool, chart_path: str | None, chart_dir: str
) -> None:
    """The daily summary: stage tables, rates, SLA compliance, open alerts, and a chart.

    \b
    Example:
      alignmon summary --as-of 2026-11-16T09:00 --chart monday.png
    """
    from monitor.cli import views

    with errors_to_exit():
        app = _app(ctx)
        when = resolve_as_of(app, as_of)
        if post:
            delivery = app.post_summary(when)
            out.print(f"summary queued; {delivery.sent} delivered, {delivery.retried} to retry")
            return
        _, payload, png = app.summary(when)
        views.print_summary(payload, out)
        path = (
            Path(chart_path)
            if chart_path
            else Path(chart_dir)
            / (f"alignmon-summary-{when.astimezone(app.config.zone):%Y-%m-%d}.png")
        )
        _write_private(path, png, "--chart" if chart_path else "--chart-dir")
        out.print(f"chart: {path}")


def _write_private(path: Path, data: bytes, what: str) -> None:
    """Write a file only its owner can read (a chart shows the pipeline, as
    the database holds it); a path that cannot be written is a usage error."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), 0o600)  # an existing file keeps its mode otherwise
            file.write(data)
    except OSError as exc:
        raise ConfigError(f"{what} {path}: {exc.strerror or exc}") from None


@main.command()
@click.option("--from", "start", required=True, metavar="T", help="Start of the window.")
@click.option("--to", "end", required=True, metavar="T", help="End of the window (exclusive).")
@click.option(
    "--step",
    metavar="DURATION",
    help="Time between evaluations, e.g. 15m or 1h (at least 1m). Default: the sources' "
    "shortest sync interval. The service also evaluates every minute, so `for` counts "
    "faster there: --step 1m replays that exactly.",
)
@click.option("--goal", metavar="NAME", help="Only this goal (and no SLA rule).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--out",
    "out_path",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Write the output to FILE instead of stdout.",
)
@click.pass_context
def backtest(
    ctx: click.Context,
    start: str,
    end: str,
    step: str | None,
    goal: str | None,
    fmt: str,
    out_path: str | None,
) -> None:
    """Replay a past window: what the alerts would have posted, step by step.

    Evaluates the stored data at each step from --from to --to and runs the
    alert lifecycle with its clock at that step, so `for`, hysteresis,
    repeats, silences and quiet hours act as they would have then. Shows each
    message that would have been posted, and per rule the alerts fired,
    resolved, repeated, escalated, eased and flapped. T is an ISO date or
    date-time, in the configured time zone without an offset. Alerts start
    from none at --from; every source with data counts as synced. Nothing in
    the database changes and nothing is posted, even with a Slack token, so
    it is safe next to a running service; the config's thresholds apply, so
    edit a copy and pass it with --config to try new ones.

    \b
    Example:
      alignmon backtest --from 2026-06-01 --to 2026-07-01 --step 15m
      alignmon --config tuned.yaml backtest --from 2026-06-01 --to 2026-07-01 \\
        --format json --out june.json
    """
    from monitor import backtest as backtest_
    from monitor.cli import backtest_views, views
    from monitor.evaluate import parse_as_of

    with errors_to_exit():
        app = _app(ctx, read_only=True)
        zone = app.config.zone
        first, last = parse_as_of(start, zone, "--from"), parse_as_of(end, zone, "--to")
        every = _duration("--step", step) if step else backtest_.default_step(app.config)
        instants = backtest_.fixed_steps(first, last, every)
        with _output(out_path) as console:  # opened first: a bad path fails before the replay
            with _replay_progress(len(instants)) as progress:
                result = app.backtest(instants, goal=goal, progress=progress)
            tell(
                f"backtest: {result.evaluations:,} evaluations in {result.seconds:.1f}s "
                f"({1000 * result.seconds / result.evaluations:.0f} ms each)",
                style="dim",
                level=logging.INFO,
            )
            if fmt == "json":
                payload = backtest_views.backtest_json(result, first, last, every, zone)
                views.dump_json(payload, console)
            else:
                backtest_views.print_backtest(result, first, last, every, zone, console)
        if out_path:
            tell(f"wrote {out_path}: {len(result.messages):,} messages", level=logging.INFO)


@contextmanager
def _output(path: str | None) -> Iterator[Console]:
    """Standard output, or a console writing plain text to ``path``."""
    if path is None:
        yield out
        return
    with ExitStack() as stack:
        try:
            file = stack.enter_context(open(path, "w", encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"--out {path}: {exc.strerror}") from None
        yield Console(file=file, highlight=False, soft_wrap=True, width=160)


def _duration(option: str, value: str) -> timedelta:
    from monitor.config.types import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


@contextmanager
def _replay_progress(total: int) -> Iterator[Callable[[int, int, datetime], None]]:
    """A progress bar on a terminal; elsewhere a line every 5% of a long
    replay, so a log shows it is moving."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    if err.is_terminal and not _json_logs():
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("replaying", total=total)

            def advance(done: int, _total: int, at: datetime) -> None:
                bar.update(task, completed=done, description=f"replaying {at:%m-%d %H:%M}")

            yield advance
        return
    every = max(100, total // 20)

    def report(done: int, _total: int, at: datetime) -> None:
        if done % every == 0 and done < _total:
            tell(
                f"backtest: {done:,} of {_total:,} evaluations (at {at:%Y-%m-%d %H:%M})",
                level=logging.INFO,
            )

    yield report


@main.group(invoke_without_command=True)
@format_option
@click.option("--wide", is_flag=True, help="Full fingerprints and times; no truncation.")
@click.option("--audit", is_flag=True, help="What was done to alerts from Slack, by whom.")
@click.pass_context
def alerts(ctx: click.Context, fmt: str, wide: bool, audit: bool) -> None:
    """Open alerts (with the short id `silence` takes), active silences, and
    notifications not delivered. Times are in the configured time zone.

    \b
    Example:
      alignmon alerts --wide
      alignmon alerts --format json
      alignmon alerts retry --dead
      alignmon alerts --audit
    """
    if ctx.invoked_subcommand is not None:
        return
    from monitor.cli import alert_views, audit_views, views

    with errors_to_exit():
        app = _app(ctx)
        if audit:
            actions = app.slack_actions()
            if fmt == "json":
                views.dump_json({"actions": audit_views.audit_json(actions, app.config.zone)}, out)
            else:
                audit_views.print_audit(actions, app.known_fingerprints(), out, app.config.zone)
            return
        listing = app.alert_listing()
        if fmt == "json":
            views.dump_json(alert_views.alerts_json(listing, app.config.zone), out)
        else:
            alert_views.print_alerts(listing, out, app.config.zone, wide=wide)
            problem = app.queue_stats().problem
            if problem:
                tell(f"delivery paused: {problem}", style="red")


@alerts.command("retry")
@click.argument("row_id", metavar="ID", type=int, required=False)
@click.option("--dead", "all_dead", is_flag=True, help="Every dead notification.")
@click.pass_context
def alerts_retry(ctx: click.Context, row_id: int | None, all_dead: bool) -> None:
    """Queue dead notifications again, once what killed them is fixed
    (e.g. a new slack.token); the service delivers them at its next drain.

    \b
    Example:
      alignmon alerts retry 42
      alignmon alerts retry --dead
    """
    if (row_id is None) == (not all_dead):
        raise click.UsageError("give a notification ID or --dead (not both)")
    with errors_to_exit():
        count = _app(ctx).retry_dead(row_id)
        if row_id is not None and count == 0:
            raise click.UsageError(f"notification {row_id} is not dead")
        out.print(f"{count} notification(s) queued again")


class _AddByDefault(click.Group):
    """``alignmon silence TARGET --for …`` (no subcommand) means ``silence
    add``, as it always has."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["add", *args]
        return super().parse_args(ctx, args)


@main.group(cls=_AddByDefault)
def silence() -> None:
    """Mute alerts for a while (`add`, the default), list silences, lift one early.

    \b
    Example:
      alignmon silence 3f9c2ab --for 4h --reason "fix deployed, waiting for sync"
      alignmon silence list
      alignmon silence expire 12
    """


@silence.command("add")
@click.argument("matcher", metavar="TARGET")
@click.option("--for", "duration", required=True, metavar="DURATION", help="e.g. 4h, 3d, 1w.")
@click.option("--reason", required=True, help="Why; shown in `alignmon silence list`.")
@click.option("--author", help="Who is muting it (default: your login name).")
@click.pass_context
def silence_add(
    ctx: click.Context, matcher: str, duration: str, reason: str, author: str | None
) -> None:
    """Mute an alert (its id from `alignmon alerts`, its fingerprint, or a
    pattern like 'pacing/q1-*') for a while.

    \b
    Example:
      alignmon silence add 3f9c2ab --for 4h --reason "fix deployed"
      alignmon silence 'sla-breach/mql-follow-up/*' --for 3d --reason "rep on leave"
    """
    from monitor.cli import alert_views
    from monitor.store.schema import silences

    with errors_to_exit():
        if not matcher.strip():
            raise ConfigError(
                "TARGET is empty: give an alert's id or fingerprint, or a pattern like "
                "'pacing/q1-*' (see `alignmon alerts`)"
            )
        _at_most("TARGET", matcher, silences.c.matcher)
        _at_most("--author", author or "", silences.c.created_by)
        if not reason.strip():
            raise ConfigError("--reason is empty: say why the alert is muted")
        span = _duration("--for", duration)
        app = _app(ctx)
        target = alert_views.resolve_target(matcher, app.known_fingerprints())
        added = app.silence(
            target, span, reason, (author or "").strip() or alert_views.login_name()
        )
        done, warning = alert_views.added_lines(added, app.config.zone)
        out.print(Text(done))
        if warning:
            err.print(Text.assemble(("warning: ", "yellow"), warning))


def _at_most(name: str, value: str, column: Column[Any]) -> None:
    longest = int(getattr(column.type, "length", 0) or 0)
    if len(value) > longest:
        raise ConfigError(f"{name} is {len(value):,} characters; at most {longest}")


@silence.command("list")
@format_option
@click.option("--wide", is_flag=True, help="Full matchers and times; no truncation.")
@click.pass_context
def silence_list(ctx: click.Context, fmt: str, wide: bool) -> None:
    """Active silences, and those ended in the last 7 days.

    \b
    Example:
      alignmon silence list --format json
    """
    from monitor.cli import alert_views, views

    with errors_to_exit():
        app = _app(ctx)
        found, now = app.list_silences(), app.clock()
        if fmt == "json":
            payload = {
                "silences": [alert_views.silence_json(s, now, app.config.zone) for s in found]
            }
            views.dump_json(payload, out)
        else:
            alert_views.print_silences(found, now, out, app.config.zone, wide=wide)


@silence.command("expire")
@click.argument("silence_id", metavar="ID", type=int)
@click.pass_context
def silence_expire(ctx: click.Context, silence_id: int) -> None:
    """Lift a silence now: from the next evaluation its alerts are told as
    if it had run out (one that fired under it is announced).

    \b
    Example:
      alignmon silence expire 12
    """
    from monitor.cli import alert_views

    with errors_to_exit():
        app = _app(ctx)
        expired = app.expire_silence(silence_id)
        if expired is None:
            raise click.UsageError(
                f"there is no silence {silence_id}; `alignmon silence list` shows them"
            )
        out.print(Text(alert_views.expired_line(expired, app.config.zone)))


@main.command()
@click.option("--once", is_flag=True, help="One full cycle (sync, evaluate, report), then exit.")
@click.pass_context
def run(ctx: click.Context, once: bool) -> None:
    """The service: sync each source on its schedule, evaluate after each sync.

    \b
    Example:
      alignmon --config alignmon.yaml run
    """
    from monitor.cli import slash
    from monitor.service.scheduler import run_service

    with errors_to_exit():
        app = _app(ctx)
        if once:
            _run_once(app)
        else:
            run_service(app, commands=slash.answer, home=slash.home_blocks)


def _run_once(app: App) -> None:
    """One full cycle: sync every source, evaluate, show the status, record
    alerts and deliver what is due."""
    from monitor.cli import views
    from monitor.service.logs import redact

    for result in app.sync():
        if not result.ok:
            out.print(
                f"[red]sync of {result.source} failed:[/red] {escape(redact(str(result.error)))}"
            )
    evaluation = app.evaluate()
    views.print_status(evaluation, out)
    app.record(evaluation)
    app.deliver()


@main.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Validate the config, reach the database, every source and Slack (its
    scopes and every configured channel); report every failure and what to
    fix. Each check ends within its configured timeout; exit 3 if any failed.

    \b
    Example:
      alignmon --config alignmon.yaml check
    """
    from monitor.interfaces import CheckStatus
    from monitor.service.checks import checks_for, run_checks
    from monitor.service.logs import redact

    with errors_to_exit():
        loaded = ctx.obj.loaded()
        out.print(f"[green]✓[/green] config {loaded.path} is valid")
        failed = False
        for done, results in run_checks(checks_for(loaded)):
            for result in results:
                mark = {
                    "ok": "[green]✓[/green]",
                    "warn": "[yellow]![/yellow]",
                    "fail": "[red]✗[/red]",
                }[result.status]
                detail = f" — {result.detail}" if result.detail else ""
                out.print(f"{mark} {done.group}: {escape(redact(result.name + detail))}")
                failed = failed or result.status == CheckStatus.FAIL
        if failed:
            sys.exit(EXIT_UNREACHABLE)


@main.command()
@click.argument("path", default="alignmon.yaml", metavar="[PATH]")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: str, force: bool) -> None:
    """Write a commented starter config, and its JSON Schema next to it.

    \b
    Example:
      alignmon init && $EDITOR alignmon.yaml
    """
    from monitor.config import loader
    from monitor.config.schema import SCHEMA_FILE, schema_text

    target = Path(path)
    if target.exists() and not force:
        tell(f"{path} exists; pass --force to overwrite it", style="red", level=logging.ERROR)
        sys.exit(EXIT_CONFIG)
    schema = target.with_name(SCHEMA_FILE)
    try:
        target.write_text(loader.starter_text(), encoding="utf-8")
        schema.write_text(schema_text(), encoding="utf-8")
    except OSError as exc:
        tell(
            f"config error: cannot write {exc.filename or path}: {exc.strerror or exc}",
            style="red",
            level=logging.ERROR,
        )
        sys.exit(EXIT_CONFIG)
    out.print(
        f"wrote {path} (and {schema}, for editors that complete and check it): edit the "
        f"sources and goals, then run `alignmon --config {path} check`"
    )


main.add_command(config_group)


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply schema migrations (the service also does this on start).

    \b
    Example:
      alignmon db upgrade
    """
    with errors_to_exit():
        app = _app(ctx.find_root())
        out.print(f"database schema at revision {app.store.upgrade()[1]}")
