"""Hostile configs: every malformed file gives one ConfigError naming the
file and, where one is known, the line — never another exception.

Two corpora go through ``monitor.config.loader``: the hand-written files in
``configs/`` (each says on its first line which message it must produce)
and mutations generated from one valid config that uses every section —
unknown and misspelt keys at every level, a wrong type at every leaf,
out-of-range numbers, bad durations, clock times, time zones and periods,
missing variables, duplicate keys, broken syntax, SOQL in Salesforce field
names. A sample of both then runs through the real ``alignmon`` process,
which must exit 2 with one line on stderr and no traceback.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import loader
from monitor.errors import ConfigError

CORPUS = Path(__file__).parent / "configs"
ALIGNMON = str(Path(sys.executable).with_name("alignmon"))
ENV = {
    "HUBSPOT_TOKEN": "pat-na1-hostile-0000",
    "SF_PASSWORD": "hostile-password",
    "SF_SECURITY_TOKEN": "hostileSecurityToken",
    "SLACK_BOT_TOKEN": "xoxb-hostile-0000",
}

#: A valid config touching every section, mutated one way at a time below.
BASE_TEXT = """\
timezone: America/New_York
database: sqlite:///alignmon.db
fiscal_year_start: 2
calendar:
  days: [mon, tue, wed, thu, fri]
  start: "09:00"
  end: "17:00"
  holidays: [2026-12-25]
  country: US
sources:
  hs:
    kind: hubspot
    token: ${HUBSPOT_TOKEN}
    api_url: https://api.hubapi.com
    portal_id: 123456
    segments: {region: hs_region}
    every: 15m
    stale_after: 3
    requests_per_second: 4
    stage_dates:
      lead: [hs_v2_date_entered_lead]
      mql: [hs_v2_date_entered_marketingqualifiedlead]
    not_leads: [subscriber]
    first_touch: hs_sa_first_engagement_date
    visits: false
    visits_backfill_days: 30
    lookback: 5m
    timeout: 30s
    retries: 3
    retry_backoff: 1s
  sf:
    kind: salesforce
    instance_url: https://acme.my.salesforce.com
    auth:
      username: sync@acme.example
      password: ${SF_PASSWORD}
      security_token: ${SF_SECURITY_TOKEN}
      login_url: https://login.salesforce.com
    fields:
      mql_at: MQL_Date__c
      sql_at: SQL_Date__c
      first_touch_at: First_Touch__c
      assigned_at: Assigned_At__c
      status_stages: {mql: [Working]}
      status_at: Status_Changed__c
    deal_fields:
      won: IsWon
      won_at: CloseDate
      amount: Amount
    segments: {region: Region__c}
    api_version: "59.0"
    quota_guard: 0.8
    page_size: 2000
    bulk_threshold: 20000
    look_back: 2m
    every: 15m
  crm:
    kind: demo
    seed: 7
    months: 3
    timezone: Europe/Berlin
slack:
  token: ${SLACK_BOT_TOKEN}
  api_url: https://slack.com/api/
  channel: "#revenue-alignment"
  summary_at: "09:00"
  timeout: 30
goals:
  - name: q-new-business
    source: hs
    period: quarter
    revenue: 1000000
    average_deal_size: 50000
    rates:
      sql_to_won: 0.2
      mql_to_sql: {auto: true, fallback: 0.4}
      lead_to_mql: auto
      visit_to_lead: 0.01
    auto_rates: {window_days: 180, maturity_days: 30, min_sample: 30, large_sample: 400}
    segment: {region: EMEA}
    commitments: {mql: 150}
    pacing: business_days
    drift: {warning: 0.15, critical: 0.3, min_elapsed: 0.1, min_expected: 5, recent_days: 30}
    channel: "#sales-leadership"
  - name: h1-pipeline
    source: sf
    period: {start: 2026-01-01, end: 2026-06-30}
    closes: 20
    rates: {sql_to_won: 0.25, mql_to_sql: 0.5, lead_to_mql: 0.2}
    rate: {stage: mql_to_sql, target: 0.55}
sla:
  - name: mql-follow-up
    source: hs
    stage: mql
    within: 4h
    warn_before: 1h
    lookback: 30d
    business_hours: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00", holidays: []}
alerts:
  for: 2
  repeat_interval: 24h
  hysteresis: 0.05
  quiet_hours: {start: "20:00", end: "07:00"}
  give_up_after: 24h
service:
  listen: 127.0.0.1:9464
  sla_check_every: 1m
  deliver_every: 5s
  lease: 60s
"""
BASE: dict[str, Any] = yaml.safe_load(BASE_TEXT)

Path_ = tuple[str | int, ...]
#: Mappings whose keys are the user's names, not the model's fields.
FREE_FORM: set[Path_] = {
    ("sources",),
    ("sources", "hs", "segments"),
    ("sources", "sf", "segments"),
    ("goals", 0, "segment"),
}
#: Mappings keyed by a fixed set of values rather than by fields: a wrong
#: key there is a wrong value, reported as such.
KEYED: set[Path_] = {("sources", "sf", "fields", "status_stages")}
#: Checks across fields, reported at the model that holds them.
CROSS_FIELD: set[Path_] = {
    ("goals", 0, "drift", "critical"),
    ("calendar", "days"),
    ("calendar", "end"),
    ("calendar", "country"),
    ("sources", "sf", "segments", "region"),
    ("alerts", "quiet_hours", "end"),
}
DURATIONS = [
    ("sources", "hs", "every"),
    ("sources", "hs", "lookback"),
    ("sources", "hs", "timeout"),
    ("sources", "hs", "retry_backoff"),
    ("sources", "sf", "look_back"),
    ("sources", "sf", "every"),
    ("sla", 0, "within"),
    ("sla", 0, "warn_before"),
    ("sla", 0, "lookback"),
    ("alerts", "repeat_interval"),
    ("alerts", "give_up_after"),
    ("service", "sla_check_every"),
    ("service", "deliver_every"),
    ("service", "lease"),
]
BAD_DURATIONS = [
    "0s",
    "-5m",
    "soon",
    "15 minutes",
    "1e309h",
    "99999w",
    "0.0000001s",
    True,
    15,
    "90",
]
CLOCKS = [
    ("calendar", "start"),
    ("calendar", "end"),
    ("slack", "summary_at"),
    ("sla", 0, "business_hours", "start"),
    ("alerts", "quiet_hours", "start"),
    ("alerts", "quiet_hours", "end"),
]
BAD_CLOCKS = ["25:00", "9am", "09:60", "noon", "24:01", "-1:00"]
ZONES = [("timezone",), ("sources", "crm", "timezone")]
BAD_ZONES = [
    "Mars/Olympus",
    "UTC+5",
    "../../etc/passwd",
    "",
    "/etc/localtime",
    "Europe/" + "x" * 300,
]
SOQL_FIELDS = [
    ("sources", "sf", "fields", "mql_at"),
    ("sources", "sf", "fields", "sql_at"),
    ("sources", "sf", "fields", "first_touch_at"),
    ("sources", "sf", "fields", "assigned_at"),
    ("sources", "sf", "fields", "status_at"),
    ("sources", "sf", "deal_fields", "won"),
    ("sources", "sf", "deal_fields", "won_at"),
    ("sources", "sf", "deal_fields", "amount"),
    ("sources", "sf", "segments", "region"),
]
SOQL_PAYLOADS = [
    "MQL_Date__c) OR (Name != ''",
    "Id FROM User --",
    "Amount, (SELECT Id FROM Tasks)",
    "Name; DELETE",
    "__c",
]
#: (location, bad value, expected part of the message).
OUT_OF_RANGE: list[tuple[Path_, Any, str]] = [
    (("fiscal_year_start",), 0, "greater than or equal to 1"),
    (("fiscal_year_start",), 13, "less than or equal to 12"),
    (("sources", "hs", "stale_after"), 0, "greater than or equal to 1"),
    (("sources", "hs", "requests_per_second"), 0, "greater than or equal to 0.01"),
    (("sources", "hs", "requests_per_second"), 1000, "less than or equal to 100"),
    (("sources", "hs", "visits_backfill_days"), 0, "greater than or equal to 1"),
    (("sources", "hs", "visits_backfill_days"), 99999, "less than or equal to 3650"),
    (("sources", "hs", "retries"), -1, "greater than or equal to 0"),
    (("sources", "sf", "quota_guard"), 1.5, "less than or equal to 1"),
    (("sources", "sf", "quota_guard"), 0, "greater than 0"),
    (("sources", "sf", "page_size"), 50, "greater than or equal to 200"),
    (("sources", "sf", "page_size"), 5000, "less than or equal to 2000"),
    (("sources", "sf", "bulk_threshold"), -1, "greater than or equal to 0"),
    (("sources", "sf", "api_version"), "59", "should match pattern"),
    (("sources", "crm", "months"), 0, "greater than or equal to 1"),
    (("sources", "crm", "months"), 999, "less than or equal to 36"),
    (("slack", "timeout"), 0, "greater than 0"),
    (("slack", "timeout"), float("inf"), "finite number"),
    (("goals", 0, "revenue"), -5, "greater than 0"),
    (("goals", 0, "revenue"), float("nan"), "finite number"),
    (("goals", 0, "revenue"), 1e300, "less than or equal to"),
    (("goals", 0, "average_deal_size"), 0, "must be positive"),
    (("goals", 0, "average_deal_size"), 1e-9, "at least 0.01"),
    (("goals", 0, "average_deal_size"), float("-inf"), "finite number"),
    (("goals", 0, "rates", "sql_to_won"), 0, "greater than 0"),
    (("goals", 0, "rates", "sql_to_won"), 1.5, "less than or equal to 1"),
    (("goals", 0, "rates", "sql_to_won"), 1e-12, "a rate below"),
    (("goals", 0, "rates", "mql_to_sql", "fallback"), 2, "less than or equal to 1"),
    (("goals", 0, "auto_rates", "window_days"), 1, "greater than or equal to 7"),
    (("goals", 0, "auto_rates", "window_days"), 10**9, "less than or equal to 3650"),
    (("goals", 0, "auto_rates", "maturity_days"), 10**9, "less than or equal to 3650"),
    (("goals", 0, "auto_rates", "min_sample"), 0, "greater than or equal to 1"),
    (("goals", 0, "commitments", "mql"), -150, "greater than or equal to 0"),
    (("goals", 1, "rate", "target"), 1.5, "less than or equal to 1"),
    (("goals", 1, "rate", "stage"), "visit_to_lead", "'lead_to_mql', 'mql_to_sql' or 'sql_to_won'"),
    (("goals", 0, "drift", "warning"), 1.5, "less than 1"),
    (("goals", 0, "drift", "critical"), 0.1, "must be larger than warning"),
    (("goals", 0, "drift", "min_elapsed"), -0.1, "greater than or equal to 0"),
    (("goals", 0, "drift", "recent_days"), 10**9, "less than or equal to 3650"),
    (("goals", 0, "drift", "recent_days"), "soon", "must be auto or a whole number of days"),
    (("goals", 0, "drift", "recent_days"), 3, "greater than or equal to 7"),
    (("goals", 0, "auto_rates", "maturity_days"), "p90", "must be auto or a whole number"),
    (("goals", 0, "drift", "conversion_confidence"), 1, "less than 1"),
    (("goals", 0, "drift", "pacing_confidence"), 0.2, "greater than or equal to 0.5"),
    (("goals", 1, "closes"), 0, "greater than 0"),
    (("goals", 1, "closes"), 10**30, "less than or equal to"),
    (("alerts", "for"), 0, "greater than or equal to 1"),
    (("alerts", "hysteresis"), 1, "less than 1"),
    (("service", "listen"), "127.0.0.1:99999", "is not HOST:PORT"),
    (("service", "listen"), "nonsense", "is not HOST:PORT"),
    (("calendar", "days"), [], "at least one working day"),
    (("calendar", "days"), ["someday"], "Input should be"),
    (("calendar", "end"), "08:00", "must be after start"),
    (("calendar", "country"), "Atlantis", "has no holiday calendar"),
    (("calendar", "holidays"), ["christmas"], "valid date"),
    (
        ("sources", "sf", "instance_url"),
        "http://acme.my.salesforce.com",
        "must start with https://",
    ),
    (("sources", "sf", "auth", "login_url"), "ftp://login", "must start with https://"),
    (("sla", 0, "stage"), "won", "Input should be"),
    (("goals", 0, "pacing"), "sideways", "Input should be"),
    (("goals", 0, "name"), "q1 new business!", "should match pattern"),
    (("goals", 0, "name"), "", "at least 1 character"),
]
#: Values that were accepted silently though wrong, or crashed later, with
#: the environment they are read with (each replaces ENV's variables).
INPUTS: list[tuple[Path_, Any, str, dict[str, str]]] = [
    # Secrets as files and Kubernetes hand them over: whitespace is dropped
    # (see test_base_config_strips_...); what still holds a control character
    # is refused without being shown.
    (
        ("sources", "hs", "token"),
        "${HUBSPOT_TOKEN}",
        "control character U+0001",
        {"HUBSPOT_TOKEN": "pat-na1-hos\x01tile-0000\n"},
    ),
    (
        ("sources", "hs", "token"),
        "${HUBSPOT_TOKEN}",
        "control character U+000A",
        {"HUBSPOT_TOKEN": "pat-na1-hos\ntile-0000"},
    ),
    (
        ("sources", "hs", "token"),
        "${HUBSPOT_TOKEN}",
        "the secret is empty",
        {"HUBSPOT_TOKEN": " \n"},
    ),
    (
        ("slack", "token"),
        "${SLACK_BOT_TOKEN}",
        "control character U+202E",
        {"SLACK_BOT_TOKEN": "xoxb-hostile\u202e-0000"},
    ),
    (("sources", "sf", "auth", "password"), "pass\x7fword", "control character U+007F", {}),
    # A secret from the environment under a key that is not a secret.
    (("sources", "hs", "portal_id"), "${HUBSPOT_TOKEN}", "value of ${HUBSPOT_TOKEN}", {}),
    (("sources", "hs", "requests_per_second"), "${HUBSPOT_TOKEN}", "${HUBSPOT_TOKEN}", {}),
    (("sources", "hs", "api_url"), "${HUBSPOT_TOKEN}", "${HUBSPOT_TOKEN}", {}),
    (("sources", "sf", "instance_url"), "${SF_PASSWORD}", "${SF_PASSWORD}", {}),
    (("sources", "sf", "fields", "mql_at"), "${SF_PASSWORD}", "${SF_PASSWORD}", {}),
    (("timezone",), "${SF_SECURITY_TOKEN}", "${SF_SECURITY_TOKEN}", {}),
    (("calendar", "country"), "${SF_SECURITY_TOKEN}", "${SF_SECURITY_TOKEN}", {}),
    (("sla", 0, "within"), "${SF_PASSWORD}", "${SF_PASSWORD}", {}),
    (("goals", 0, "source"), "${SF_PASSWORD}", "source ${SF_PASSWORD} is not defined", {}),
    (("goals", 0, "revenue"), "${SLACK_BOT_TOKEN}", "${SLACK_BOT_TOKEN}", {}),
    (("goals", 0, "name"), "x-${SLACK_BOT_TOKEN} !", "${SLACK_BOT_TOKEN}", {}),
    # Values that crashed later.
    (("slack", "api_url"), "not a url", "must be an http:// or https:// URL", {}),
    (("slack", "api_url"), "https://", "must be an http:// or https:// URL", {}),
    (("slack", "api_url"), "https://slack.com:port/api/", "port that is not a number", {}),
    (("sources", "hs", "api_url"), "api.hubapi.com", "must be an http:// or https:// URL", {}),
    (("slack", "timeout"), 1e300, "less than or equal to 600", {}),
    (("sources", "hs", "requests_per_second"), 1e-300, "greater than or equal to 0.01", {}),
    # Yes/no values are not numbers.
    (("goals", 1, "closes"), True, "a yes/no value", {}),
    (("goals", 1, "closes"), False, "a yes/no value", {}),
    (("goals", 0, "rates", "lead_to_mql"), True, "a yes/no value", {}),
    (("goals", 0, "rates", "mql_to_sql", "fallback"), True, "a yes/no value", {}),
    (("goals", 0, "revenue"), True, "a yes/no value", {}),
    (("goals", 0, "commitments", "mql"), True, "a yes/no value", {}),
    (("sources", "hs", "requests_per_second"), True, "a yes/no value", {}),
    (("sources", "hs", "portal_id"), True, "a yes/no value", {}),
    (("slack", "timeout"), True, "a yes/no value", {}),
    (("alerts", "for"), True, "a yes/no value", {}),
    (("fiscal_year_start",), True, "a yes/no value", {}),
    # Silence or dead letters by accident.
    (("alerts", "quiet_hours", "end"), "20:00", "24 hours of silence", {}),
    (("slack", "channel"), "", "a Slack channel is needed", {}),
    (("slack", "channel"), "  ", "a Slack channel is needed", {}),
    (("slack", "channel"), "#", "names no channel", {}),
    (("slack", "channel"), "#revenue alignment", "no spaces", {}),
    (("goals", 0, "channel"), "", "a Slack channel is needed", {}),
    (("slack", "channel"), "#" + "c" * 250, "a channel is at most 200 characters", {}),
    # Names the database columns cannot hold.
    (("goals", 0, "name"), "g" * 201, "a name is at most 200 characters", {}),
    (("sla", 0, "name"), "s" * 201, "a name is at most 200 characters", {}),
]

BAD_PERIODS: list[tuple[Any, str]] = [
    ("fortnight", "Input should be"),
    ("Q1", "Input should be"),
    (5, "Input should be"),
    ({"start": "2026-03-01", "end": "2026-01-01"}, "is before its start"),
    ({"start": "2026-01-01"}, "end: this key is required"),
    ({"start": "0001-01-01", "end": "9999-12-31"}, "within the years"),
    ({"start": "2026-02-30", "end": "2026-03-31"}, "valid date"),
]


@dataclass(frozen=True)
class Case:
    """One generated config: its text, the environment it is read with, and
    what the error must say; ``at`` is the location whose YAML lines the
    reported line must fall on (None: only that some line is reported)."""

    id: str
    text: str
    expect: str
    at: Path_ | None = None
    env: tuple[tuple[str, str], ...] = tuple(ENV.items())


def dotted(loc: Path_) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def walk(node: Any, loc: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    yield loc, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*loc, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*loc, index))


def replaced(loc: Path_, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    node: Any = data
    for part in loc[:-1]:
        node = node[part]
    node[loc[-1]] = value
    return data


def span(text: str, loc: Path_) -> tuple[int, int]:
    """First and last line (1-based) of ``loc`` in ``text``: its key and value."""
    node: Any = yaml.compose(text, Loader=yaml.SafeLoader)
    first = 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            key, node = next((k, v) for k, v in node.value if k.value == str(part))
            first = key.start_mark.line + 1
        else:
            node = node.value[int(part)]
            first = node.start_mark.line + 1
    end = node.end_mark
    return first, end.line + (1 if end.column else 0)


def rotation(values: list[Any], start: int, count: int) -> list[Any]:
    """``count`` of ``values`` from ``start`` on, wrapping: consecutive
    locations get different bad values, and every value is used."""
    return [values[(start * count + i) % len(values)] for i in range(count)]


def generated() -> Iterator[Case]:
    nodes = list(walk(BASE))
    for loc, node in nodes:
        if isinstance(node, dict) and loc not in FREE_FORM:
            at = (*loc, "zz_unknown")
            text = dump(replaced(at, 1) if loc else {**BASE, "zz_unknown": 1})
            expect = dotted(at) if loc in KEYED else f"unknown key '{dotted(at)}'"
            yield Case(f"unknown-key:{dotted(at)}", text, expect, at)
    for loc, _ in nodes:
        parent = loc[:-1]
        if not loc or isinstance(loc[-1], int) or parent in FREE_FORM or loc[-1] == "kind":
            continue
        typo = str(loc[-1])[:-1]
        data = copy.deepcopy(BASE)
        holder: Any = data
        for part in parent:
            holder = holder[part]
        holder[typo] = holder.pop(loc[-1])
        expect = dotted((*parent, typo)) if parent in KEYED else f"did you mean '{loc[-1]}'?"
        yield Case(f"typo:{dotted(loc)}", dump(data), expect, (*parent, typo))
    leaves = [
        loc
        for loc, node in nodes
        if loc and not isinstance(node, dict | list) and loc[:-1] not in FREE_FORM
    ]
    for index, loc in enumerate(leaves):
        # A source's kind picks its model, so a bad one is the source's error.
        at = loc[:-1] if loc[-1] == "kind" else loc
        label, junk = (("mapping", {"zz_junk": 1}), ("list", [1, "two"]))[index % 2]
        text = dump(replaced(loc, junk))
        yield Case(f"wrong-type-{label}:{dotted(loc)}", text, dotted(at), at)
    for loc, bad, expect in OUT_OF_RANGE:
        at = loc[:-1] if loc in CROSS_FIELD else loc
        yield Case(f"range:{dotted(loc)}={bad!r}", dump(replaced(loc, bad)), expect, at)
    for index, loc in enumerate(DURATIONS):
        for bad in rotation(BAD_DURATIONS, index, 3):
            yield Case(
                f"duration:{dotted(loc)}={bad!r}", dump(replaced(loc, bad)), f"{dotted(loc)}: ", loc
            )
    for index, loc in enumerate(CLOCKS):
        for bad in rotation(BAD_CLOCKS, index, 3):
            yield Case(
                f"clock:{dotted(loc)}={bad!r}", dump(replaced(loc, bad)), "is not a clock time", loc
            )
    for loc in ZONES:
        for bad in BAD_ZONES:
            yield Case(
                f"zone:{dotted(loc)}={bad[:20]!r}",
                dump(replaced(loc, bad)),
                "is not an IANA time zone",
                loc,
            )
    for bad, expect in BAD_PERIODS:
        loc = ("goals", 0, "period")
        yield Case(f"period:{bad!r}", dump(replaced(loc, bad)), expect, loc)
    for index, loc in enumerate(SOQL_FIELDS):
        for payload in rotation(SOQL_PAYLOADS, index, 2):
            at = loc[:-1] if loc in CROSS_FIELD else loc
            text = dump(replaced(loc, payload))
            yield Case(f"soql:{dotted(loc)}={payload!r}", text, "is not a Salesforce API name", at)
    for loc, bad, expect, overrides in INPUTS:
        yield Case(
            f"input:{dotted(loc)}={bad!r}"[:120],
            dump(replaced(loc, bad)),
            expect,
            loc[:-1] if loc in CROSS_FIELD else loc,
            tuple({**ENV, **overrides}.items()),
        )
    long_source = copy.deepcopy(BASE)
    long_name = "s" * 101
    long_source["sources"] = {long_name if k == "hs" else k: v for k, v in BASE["sources"].items()}
    long_source["goals"][0]["source"] = long_source["sla"][0]["source"] = long_name
    yield Case(
        "input:source-name-101",
        dump(long_source),
        "a source name is at most 100",
        ("sources", long_name),
    )
    for name in ENV:
        env = tuple((k, v) for k, v in ENV.items() if k != name)
        yield Case(
            f"missing-env:{name}", BASE_TEXT, f"environment variable {name} is not set", None, env
        )
    for kind in ("pipedrive", "HubSpot", "", "demo ", "salesforce\n"):
        loc = ("sources", "crm", "kind")
        yield Case(f"kind:{kind!r}", dump(replaced(loc, kind)), "sources.crm", loc[:-1])
    for section in ("goals", "sla"):
        loc = (section, 0, "source")
        yield Case(
            f"unknown-source:{section}",
            dump(replaced(loc, "nowhere")),
            "source 'nowhere' is not defined",
            loc,
        )
    twice = copy.deepcopy(BASE)
    twice["goals"][1]["name"] = twice["goals"][0]["name"]
    yield Case("goal-name-twice", dump(twice), "is used twice in goals", ("goals", 1, "name"))
    lines = BASE_TEXT.splitlines()
    for index, line in enumerate(lines):
        key, colon, rest = line.strip().partition(":")
        if colon and rest.strip() and not line.lstrip().startswith("-") and index % 2 == 0:
            text = "\n".join([*lines[: index + 1], line, *lines[index + 1 :]]) + "\n"
            yield Case(
                f"duplicate:{index + 1}:{key}", text, f":{index + 2}: key '{key}' appears twice"
            )
    for index in range(2, len(lines), 25):
        for label, broken in (
            ("unclosed-flow", "  zz: [1, 2"),
            ("tab-indent", "\tzz: 1"),
            ("value-colon", "  zz: a: b"),
            ("bad-indent", "     zz: 1\n  yy: 2"),
        ):
            text = "\n".join([*lines[:index], broken, *lines[index:]]) + "\n"
            yield Case(f"syntax-{label}:{index + 1}", text, "not valid YAML")


CASES = list(generated())


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_generated_config_gives_one_clear_error(case: Case) -> None:
    with pytest.raises(ConfigError) as caught:
        loader.parse(case.text, "hostile.yaml", dict(case.env))
    error = caught.value
    message = str(error)
    assert case.expect in message
    assert "\n" not in message
    for value in dict(case.env).values():  # the environment holds secrets: never quoted
        assert not value.strip() or value.strip() not in message
    assert error.line is not None, message
    assert message.startswith(f"hostile.yaml:{error.line}: ")
    assert 1 <= error.line <= case.text.count("\n") + 1
    if case.at is not None:
        first, last = span(case.text, case.at)
        assert first <= error.line <= last, (message, first, last)


def test_the_base_config_is_valid_and_the_corpus_is_large_enough() -> None:
    config = loader.parse(BASE_TEXT, "base.yaml", ENV)
    assert set(config.sources) == {"hs", "sf", "crm"}
    assert len(CASES) >= 150
    assert len(list(CORPUS.glob("*.yaml"))) >= 60


def expectation(path: Path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0].decode("ascii")
    assert first.startswith("# expect: "), f"{path.name} lacks its expect line"
    return first.removeprefix("# expect: ")


HAND_WRITTEN = sorted(CORPUS.glob("*.yaml"))


@pytest.mark.parametrize("path", HAND_WRITTEN, ids=[p.stem for p in HAND_WRITTEN])
def test_hand_written_config_gives_one_clear_error(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ALIGNMON_MISSING", raising=False)
    with pytest.raises(ConfigError) as caught:
        loader.load(str(path))
    error = caught.value
    message = str(error)
    assert expectation(path) in message
    assert "\n" not in message
    where = f"{path}:{error.line}: " if error.line else f"{path}: "
    assert message.startswith(where)


def test_a_huge_file_is_refused_quickly(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    huge.write_text(BASE_TEXT + "".join(f"zz_{i}: {i}\n" for i in range(200_000)))
    with pytest.raises(ConfigError, match="a config file is at most"):
        loader.load(str(huge))


def test_deeply_nested_junk_and_expanding_aliases_are_config_errors() -> None:
    deep = "sources: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(ConfigError, match="nests too deeply"):
        loader.parse(deep, "deep.yaml", {})
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefgh":
        previous = chr(ord(level) - 1)
        laughs += f"{level}: &{level} [{', '.join([f'*{previous}'] * 10)}]\n"
    with pytest.raises(ConfigError, match="expands to more than"):
        loader.parse(laughs, "laughs.yaml", {})


# -- through the real process ---------------------------------------------------

CLI_SAMPLE = [CASES[i] for i in range(0, len(CASES), max(1, len(CASES) // 12))][:12]


def alignmon(
    config: Path, cwd: Path, variables: dict[str, str] = ENV
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ALIGNMON_CONFIG"}
    env.update(variables)
    return subprocess.run(
        [ALIGNMON, "--config", str(config), "targets"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_the_cli_exits_2_with_one_line_for_a_sample(tmp_path: Path) -> None:
    files: list[tuple[Path, str, dict[str, str]]] = []
    for index, case in enumerate(CLI_SAMPLE):
        path = tmp_path / f"generated-{index}.yaml"
        path.write_text(case.text, encoding="utf-8")
        files.append((path, case.expect, dict(case.env)))
    for path in HAND_WRITTEN[:: max(1, len(HAND_WRITTEN) // 10)]:
        files.append((path, expectation(path), ENV))
    assert len(files) >= 20
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda f: alignmon(f[0], tmp_path, f[2]), files))
    for (path, expect, _), result in zip(files, results, strict=True):
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2, (path.name, result.stderr[-500:])
        assert "Traceback" not in result.stderr
        assert len(lines) == 1, (path.name, lines)
        assert lines[0].startswith(f"config error: {path}")
        assert expect in lines[0]
        assert result.stdout == ""
        assert not list(tmp_path.glob("*.db")), "a config error must not create a database"


def test_the_name_limits_fit_the_database_columns() -> None:
    """The load-time limits are the schema's column lengths, and the longest
    fingerprint a goal or SLA rule name of that length makes still fits."""
    from typing import get_args

    from monitor.config import models
    from monitor.findings import Rule, fingerprint
    from monitor.store import schema

    def length(column: Any) -> int:
        return int(column.type.length)

    sources = [schema.records.c.source, schema.alerts.c.source, schema.source_status.c.source]
    assert min(length(c) for c in sources) == models.MAX_SOURCE_NAME
    assert length(schema.alerts.c.subject) == models.MAX_RULE_NAME
    assert (
        min(length(schema.alerts.c.channel), length(schema.outbox.c.channel)) == models.MAX_CHANNEL
    )
    name = "n" * models.MAX_RULE_NAME
    stage = "s" * length(schema.stage_days.c.stage)
    owner = "o" * length(schema.records.c.owner_id)
    longest = max(
        len(fingerprint(rule, name, stage, "2026-01-01..2026-12-31")) for rule in get_args(Rule)
    )
    longest = max(longest, *(len(fingerprint(rule, name, owner=owner)) for rule in get_args(Rule)))
    assert longest <= length(schema.alerts.c.fingerprint)
