"""Config loading: every bad config gives one clear message naming the file,
line and key; secrets never print."""

from __future__ import annotations

import pytest

from monitor.config.loader import parse
from monitor.config.types import parse_duration
from monitor.errors import ConfigError

BASE = """\
timezone: America/New_York
sources:
  hs:
    kind: hubspot
    token: ${HS_TOKEN}
    every: 15m
goals:
  - name: q1
    source: hs
    revenue: 1000000
    average_deal_size: 50000
    rates: {sql_to_won: 0.2, mql_to_sql: 0.4, lead_to_mql: 0.25}
"""
ENV = {"HS_TOKEN": "pat-na1-0123456789"}


def error_for(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text, "alignmon.yaml", ENV if env is None else env)
    return str(caught.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("every: 15m", "evry: 15m"),
            "alignmon.yaml:6: unknown key 'sources.hs.evry'; did you mean 'every'?",
        ),
        (("goals:", "golas:"), "alignmon.yaml:7: unknown key 'golas'; did you mean 'goals'?"),
        (
            ("revenue: 1000000", "revenue: lots"),
            "alignmon.yaml:10: goals[0].revenue: Input should be a valid number",
        ),
        (
            ("mql_to_sql: 0.4", "mql_to_sql: -0.4"),
            "alignmon.yaml:12: goals[0].rates.mql_to_sql: Input should be greater than 0",
        ),
        (
            ("mql_to_sql: 0.4", "mql_to_sql: 1.4"),
            "alignmon.yaml:12: goals[0].rates.mql_to_sql: Input should be less than or equal to 1",
        ),
        (
            (
                "revenue: 1000000",
                "period: {start: 2026-03-01, end: 2026-01-01}\n    revenue: 1000000",
            ),
            "alignmon.yaml:10: goals[0].period: period end (2026-01-01) is before its start (2026-03-01)",
        ),
        (
            ("source: hs", "source: sf"),
            "alignmon.yaml:9: goals[0].source: source 'sf' is not defined under sources (defined: hs)",
        ),
        (
            ("kind: hubspot", "kind: pipedrive"),
            "alignmon.yaml:3: sources.hs: kind 'pipedrive' is not a known source kind (valid: demo, hubspot, salesforce)",
        ),
        (
            ("America/New_York", "Mars/Base"),
            "alignmon.yaml:1: timezone: 'Mars/Base' is not an IANA time zone",
        ),
        (
            ("every: 15m", "every: fifteen"),
            "alignmon.yaml:6: sources.hs.every: 'fifteen' is not a duration",
        ),
        (
            ("    token: ${HS_TOKEN}\n", ""),
            "alignmon.yaml:3: sources.hs.token: this key is required",
        ),
        (
            ("mql_to_sql: 0.4", "mql_to_sql: {auto: true, fallbak: 0.3}"),
            "alignmon.yaml:12: unknown key 'goals[0].rates.mql_to_sql.fallbak'; did you mean 'fallback'?",
        ),
        (
            ("revenue: 1000000", "revenue: 1000000\n    closes: 20"),
            "alignmon.yaml:8: goals[0]: give exactly one of revenue or closes",
        ),
        (
            ("    average_deal_size: 50000\n", ""),
            "alignmon.yaml:8: goals[0]: a revenue goal needs average_deal_size",
        ),
    ],
)
def test_bad_config_names_file_line_and_key(change: tuple[str, str], expected: str) -> None:
    assert change[0] in BASE
    assert error_for(BASE.replace(*change, 1)).startswith(expected)


def test_repeats_are_set_inside_working_hours() -> None:
    late = BASE + 'alerts:\n  repeat_at: "20:00"\n'
    assert error_for(late).startswith(
        "alignmon.yaml:14: alerts.repeat_at: 20:00 is outside the working hours (09:00-17:00)"
    )
    config = parse(BASE + 'alerts:\n  repeat_at: "11:30"\n', "alignmon.yaml", ENV)
    assert config.alerts.repeat_at is not None and config.alerts.repeat_at.hour == 11


def test_late_touches_are_reported_only_when_asked() -> None:
    rule = "sla:\n  - {name: f, source: hs, within: 4h%s}\n"
    assert parse(BASE + rule % "", "alignmon.yaml", ENV).sla[0].report_late_touch is False
    asked = parse(BASE + rule % ", report_late_touch: true", "alignmon.yaml", ENV)
    assert asked.sla[0].report_late_touch is True


def test_an_unquoted_clock_time_says_to_quote_it() -> None:
    text = BASE + "alerts:\n  quiet_hours: {start: 20:00, end: 7:30}\n"
    assert 'quote it, e.g. "20:00"' in error_for(text)


def test_a_subdivision_without_a_country_is_an_error() -> None:
    assert "subdivision 'CA' needs a country" in error_for(BASE + "calendar: {subdivision: CA}\n")


def test_missing_environment_variable_names_the_key() -> None:
    message = error_for(BASE, env={})
    assert message == (
        "alignmon.yaml:5: sources.hs.token: environment variable HS_TOKEN is not set; "
        "export it or put the value in the file"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the config file is empty"),
        ("- a\n", "the config must be a mapping"),
        ("sources: [\n", "not valid YAML"),
        ("sources: {}\n", "sources: at least one source is needed"),
        ("a: 1\na: 2\n", "key 'a' appears twice"),
    ],
)
def test_malformed_documents(text: str, expected: str) -> None:
    assert expected in error_for(text)


def test_secret_never_prints() -> None:
    config = parse(BASE, "alignmon.yaml", ENV)
    token = config.sources["hs"].token  # type: ignore[union-attr]
    assert token.reveal() == ENV["HS_TOKEN"]
    for text in (repr(config), str(config), config.model_dump_json(), f"{token}"):
        assert ENV["HS_TOKEN"] not in text
    assert "<secret>" in repr(config)


def test_wrong_type_of_secret_is_not_echoed() -> None:
    message = error_for(BASE.replace("token: ${HS_TOKEN}", "token: [pat-na1-leaky]"))
    assert "pat-na1-leaky" not in message


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("4h", 14400), ("3d", 259200), ("1w", 604800), ("1.5h", 5400)],
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize(("value", "shown"), [(15, "15"), (1.5, "1.5"), ("90", "90")])
def test_a_duration_without_a_unit_asks_for_one(value: object, shown: str) -> None:
    with pytest.raises(ValueError, match=rf"^{shown} what\? write {shown}m "):
        parse_duration(value)


def test_a_bare_number_of_seconds_in_the_file_is_refused_at_its_key() -> None:
    message = error_for(BASE.replace("every: 15m", "every: 15"))
    assert "sources.hs.every: 15 what? write 15m" in message


def test_starter_and_demo_configs_are_valid() -> None:
    from importlib import resources

    for name in ("starter.yaml", "demo.yaml"):
        text = resources.files("monitor.config").joinpath(name).read_text()
        config = parse(text, name, {"HUBSPOT_TOKEN": "x" * 10, "SLACK_BOT_TOKEN": "y" * 10})
        assert config.goals and config.sources


@pytest.mark.parametrize("name", ["demo.yaml", "hubspot.yaml", "salesforce.yaml"])
def test_example_configs_are_valid(name: str) -> None:
    from pathlib import Path

    path = Path(__file__).parents[3] / "config" / name
    env = {
        k: "x" * 12
        for k in (
            "HUBSPOT_TOKEN",
            "SLACK_BOT_TOKEN",
            "SF_USERNAME",
            "SF_PASSWORD",
            "SF_SECURITY_TOKEN",
        )
    }
    config = parse(path.read_text(), str(path), env)
    assert config.goals and config.sla


def test_database_password_is_treated_as_a_secret() -> None:
    from monitor.service.logs import secrets_in

    text = BASE.replace(
        "timezone:", "database: postgresql://app:s3cr3t-db-pw@db/alignmon\ntimezone:"
    )
    assert "s3cr3t-db-pw" in secrets_in(parse(text, "alignmon.yaml", ENV))
