"""Running the real `alignmon` entry point as a user would, for the
end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fakes.slack import TOKEN as SLACK_TOKEN

ALIGNMON = str(Path(sys.executable).with_name("alignmon"))


def alignmon(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``alignmon ARGS`` in ``cwd``, with ``env`` added to this process's
    environment (less any $ALIGNMON_CONFIG of the developer's)."""
    full_env = {k: v for k, v in os.environ.items() if k != "ALIGNMON_CONFIG"}
    full_env.update(env or {})
    return subprocess.run(
        [ALIGNMON, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def service_config(
    *,
    database: str,
    slack_url: str,
    source: str = "demo: {kind: demo, every: 2s}",
    goal_source: str = "demo",
    mql_commitment: int = 600,
    summary_at: str = "03:00",
    alerts: str = "{for: 1}",
    port: int = 0,
    lease: str = "2s",
    sla_check_every: str = "2s",
    calendar: str = "{}",
    channel: str = "#revenue-alignment",
) -> str:
    """A config for ``alignmon run`` against the fake Slack: one source (its
    YAML under ``sources:``), one revenue goal on it, fast service timers."""
    source_yaml = "\n".join(f"  {line}" for line in source.strip().splitlines())
    return f"""\
timezone: UTC
database: {database}
calendar: {calendar}
sources:
{source_yaml}
slack:
  token: {SLACK_TOKEN}
  api_url: {slack_url}
  channel: "{channel}"
  summary_at: "{summary_at}"
goals:
  - name: q-new-business
    source: {goal_source}
    revenue: 2100000
    average_deal_size: 25000
    rates: {{sql_to_won: 0.22, mql_to_sql: 0.37, lead_to_mql: 0.27}}
    commitments: {{mql: {mql_commitment}}}
alerts: {alerts}
service: {{listen: "127.0.0.1:{port}", sla_check_every: {sla_check_every}, deliver_every: 1s, lease: {lease}}}
"""
