"""Prometheus metrics of the service, in one registry of their own.

Only aggregate, non-identifying values: source, goal, stage, rule and
severity names (all from the config) are labels; no CRM text, owner, or
credential ever becomes one. deploy/grafana/alignmon.json and
deploy/prometheus/alignmon-rules.yaml read these names.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from monitor.judge.report import GoalReport


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.sync_seconds = Histogram(
            "alignmon_sync_duration_seconds", "Duration of a source sync.", ["source"], registry=r,
            buckets=(0.5, 1, 5, 15, 60, 300, 900, 3600),
        )  # fmt: skip
        self.sync_records = Counter(
            "alignmon_sync_records", "Records, counts and touches pulled.", ["source"], registry=r
        )
        self.sync_started = Gauge(
            "alignmon_sync_started_timestamp_seconds",
            "Unix time the running sync, or the last one, started.",
            ["source"],
            registry=r,
        )
        self.sync_running = Gauge(
            "alignmon_sync_running", "1 while a sync of the source runs.", ["source"], registry=r
        )
        self.sync_progress = Gauge(
            "alignmon_sync_progress_records",
            "Records, counts and touches pulled by the running sync, or the last one.",
            ["source", "object_type"],
            registry=r,
        )
        self.sync_expected = Gauge(
            "alignmon_sync_expected_records",
            "The CRM's count of what the running (or last) sync pulls, where it reports one "
            "(it may include look-back records the sync then skips).",
            ["source", "object_type"],
            registry=r,
        )
        self.sync_failures = Counter(
            "alignmon_sync_failures", "Syncs that did not complete.", ["source"], registry=r
        )
        self.sync_error = Gauge(
            "alignmon_sync_last_error",
            "1 for the reason the source's last sync failed (HTTP status or error code).",
            ["source", "error"],
            registry=r,
        )
        self.last_sync = Gauge(
            "alignmon_last_successful_sync_timestamp_seconds",
            "Unix time of the last successful sync.",
            ["source"],
            registry=r,
        )
        self.api_calls = Gauge(
            "alignmon_api_calls", "CRM API calls made by the source since start.", ["source"],
            registry=r,
        )  # fmt: skip
        self.quota_used = Gauge(
            "alignmon_api_quota_used_ratio", "Share of the CRM's daily API allowance used.",
            ["source"], registry=r,
        )  # fmt: skip
        self.evaluate_seconds = Histogram(
            "alignmon_evaluation_duration_seconds", "Duration of an evaluation.", registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )  # fmt: skip
        self.last_evaluation = Gauge(
            "alignmon_last_evaluation_timestamp_seconds", "Unix time of the last evaluation.",
            registry=r,
        )  # fmt: skip
        self.alerts_firing = Gauge(
            "alignmon_alerts_firing", "Alerts firing, by severity.", ["severity"], registry=r
        )
        self.outbox_depth = Gauge(
            "alignmon_outbox_depth", "Notifications waiting to be delivered.", registry=r
        )
        self.outbox_dead = Gauge("alignmon_outbox_dead", "Notifications given up on.", registry=r)
        self.delivery_paused = Gauge(
            "alignmon_delivery_paused",
            "1 while delivery is paused by a problem a person must fix (slack-auth).",
            ["problem"],
            registry=r,
        )
        self.slack_socket = Gauge(
            "alignmon_slack_socket_connected",
            "1 while the Slack Socket Mode connection (alert buttons) is open.",
            registry=r,
        )
        self.slack_actions = Counter(
            "alignmon_slack_actions",
            "Buttons pressed on alerts in Slack, by button and outcome.",
            ["button", "outcome"],
            registry=r,
        )
        self.sla_compliance = Gauge(
            "alignmon_sla_compliance_ratio", "Share of follow-ups met, trailing 7 days.",
            ["rule"], registry=r,
        )  # fmt: skip
        self.stage_actual = Gauge(
            "alignmon_stage_actual", "Records that reached the stage so far this period.",
            ["goal", "stage"], registry=r,
        )  # fmt: skip
        self.stage_expected = Gauge(
            "alignmon_stage_expected", "Records the plan expects at the stage by now.",
            ["goal", "stage"], registry=r,
        )  # fmt: skip
        self.pace = Gauge(
            "alignmon_pace_attainment_ratio", "Actual over expected by now (1 = on pace).",
            ["goal", "stage"], registry=r,
        )  # fmt: skip

    def observe_pace(self, reports: Iterable[GoalReport]) -> None:
        """Pace as of the last evaluation: series for a stage with no number
        now (a new period, a source still waiting) disappear rather than
        keep an old value."""
        for gauge in (self.stage_actual, self.stage_expected, self.pace):
            gauge.clear()
        for report in reports:
            if report.waiting is not None:
                continue
            for stage in report.stages:
                labels = (report.name, stage.stage)
                if stage.actual is not None:
                    self.stage_actual.labels(*labels).set(stage.actual)
                if stage.expected is not None:
                    self.stage_expected.labels(*labels).set(stage.expected)
                if stage.attainment is not None:
                    self.pace.labels(*labels).set(stage.attainment)
