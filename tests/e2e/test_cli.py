"""The CLI through its real entry point, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from monitor.cli.main import main
from tests.e2e.cli import alignmon

WORKED_EXAMPLES = """\
timezone: UTC
database: sqlite:///examples.db
sources:
  crm: {kind: demo}
goals:
  - name: ten-closes
    source: crm
    closes: 10
    rates: {sql_to_won: 0.2, mql_to_sql: 1, lead_to_mql: 1}
  - name: hundred-million
    source: crm
    revenue: 100000000
    average_deal_size: 50000
    rates: {sql_to_won: 1, mql_to_sql: 1, lead_to_mql: 1}
  - name: four-hundred-leads
    source: crm
    closes: 400
    rates: {sql_to_won: 1, mql_to_sql: 1, lead_to_mql: 1, visit_to_lead: 0.01}
  - name: hundred-fifty-leads
    source: crm
    closes: 10
    rates: {sql_to_won: 0.2, mql_to_sql: 0.5, lead_to_mql: 0.4}
    commitments: {lead: 150, rates: {sql_to_won: 0.16}}
    plan: {cost: {lead: 40}, budget: 8000, capacity: {sql: 10}}
"""


def stage_targets(payload: dict, goal: str) -> dict[str, int]:  # type: ignore[type-arg]
    chosen = next(g for g in payload["goals"] if g["name"] == goal)
    return {s["stage"]: s["target"] for s in chosen["stages"]}


def test_targets_json_reproduces_the_worked_examples(tmp_path: Path) -> None:
    (tmp_path / "alignmon.yaml").write_text(WORKED_EXAMPLES)
    result = alignmon("targets", "--format", "json", "--as-of", "2026-11-02", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert stage_targets(payload, "ten-closes")["lead"] == 50
    assert stage_targets(payload, "hundred-million")["won"] == 2000
    assert stage_targets(payload, "four-hundred-leads")["lead"] == 400
    assert stage_targets(payload, "four-hundred-leads")["visit"] == 40000
    committed = next(g for g in payload["goals"] if g["name"] == "hundred-fifty-leads")
    assert [(c["stage"], c["committed"], c["needed"]) for c in committed["commitments"]] == [
        ("lead", 150, 250),
        ("sql", 0.16, 0.2),
    ]
    assert committed["spend"]["total"] == 10_000 and committed["spend"]["over"] == 2_000
    assert committed["capacity"][0]["over"] == 20  # 50 SQLs needed, 30 in the quarter
    goal = payload["goals"][0]
    assert goal["period"] == {"start": "2026-10-01", "end": "2026-12-31"}
    assert set(goal["stages"][0]) >= {
        "stage",
        "target",
        "expected",
        "actual",
        "attainment",
        "projection",
        "rate",
        "rate_source",
        "sample",
    }


def test_bad_config_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(WORKED_EXAMPLES.replace("closes: 10", "closes: 10\n    colour: blue"))
    result = alignmon("--config", str(bad), "targets", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{bad}:9: unknown key 'goals[0].colour'" in result.stderr


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = alignmon("--config", "nope.yaml", "status", cwd=tmp_path)
    assert result.returncode == 2
    assert "nope.yaml: config file not found; run `alignmon init`" in result.stderr


def test_init_writes_a_starter_that_validates(tmp_path: Path) -> None:
    assert alignmon("init", cwd=tmp_path).returncode == 0
    assert (tmp_path / "alignmon.yaml").exists()
    again = alignmon("init", cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr
    env = {"HUBSPOT_TOKEN": "pat-test-token", "SLACK_BOT_TOKEN": "xoxb-test"}
    targets = alignmon("targets", "--format", "json", cwd=tmp_path, env=env)
    assert targets.returncode == 0, targets.stderr
    assert stage_targets(json.loads(targets.stdout), "q-new-business")["won"] == 20


def test_run_once_on_the_demo_shows_the_mql_shortfall(tmp_path: Path) -> None:
    result = alignmon("run", "--once", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "using the built-in demo" in result.stderr
    assert "MQLs" in result.stdout and "behind pace" in result.stdout
    assert (tmp_path / "alignmon-demo.db").exists()


def test_status_as_of_is_reproducible_and_fails_on_critical(tmp_path: Path) -> None:
    assert alignmon("sync", cwd=tmp_path).returncode == 0
    first = alignmon("status", "--format", "json", "--as-of", "2026-11-16T12:00", cwd=tmp_path)
    second = alignmon("status", "--format", "json", "--as-of", "2026-11-16T12:00", cwd=tmp_path)
    assert first.stdout == second.stdout
    payload = json.loads(first.stdout)
    assert payload["as_of"].startswith("2026-11-16T12:00")
    mql = next(s for s in payload["goals"][0]["stages"] if s["stage"] == "mql")
    assert mql["actual"] > 0
    earlier = json.loads(
        alignmon("status", "--format", "json", "--as-of", "2026-11-02", cwd=tmp_path).stdout
    )
    mql_earlier = next(s for s in earlier["goals"][0]["stages"] if s["stage"] == "mql")
    assert mql_earlier["actual"] < mql["actual"]
    assert any(f["rule"] == "pacing" and f["stage"] == "mql" for f in payload["findings"])
    gated = alignmon("status", "--as-of", "2026-11-16T12:00", "--fail-on", "critical", cwd=tmp_path)
    assert gated.returncode == 1
    assert "q-new-business: where prospects stall" in gated.stdout
    assert "SQLs stalled beyond" in gated.stdout and "Jordan Ellis" in gated.stdout
    assert any(s["goal"] == "q-new-business" and s["stage"] == "sql" for s in payload["stalls"])


def test_status_on_the_demo_breaks_the_goal_down_by_lead_source(tmp_path: Path) -> None:
    """The demo's paid social leads convert MQL→SQL at a fifth of the
    others' rate: status shows the lead_source table, marketing's revenue
    line, and the quality gap naming paid social."""
    assert alignmon("sync", cwd=tmp_path).returncode == 0
    result = alignmon("status", "--format", "json", "--as-of", "2026-11-16T12:00", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    goal = json.loads(result.stdout)["goals"][0]
    values = {v["value"]: v for v in goal["breakdown"]["lead_source"]}
    assert set(values) == {"paid_social", "webinar", "seo", "referral", "event"}
    paid, seo = values["paid_social"], values["seo"]
    assert paid["rates"]["mql_to_sql"] < seo["rates"]["mql_to_sql"] / 2
    assert sum(v["share"]["lead"] for v in values.values()) == pytest.approx(1, abs=1e-3)
    marketing = goal["marketing"]
    assert marketing["values"] == ["paid_social", "webinar", "seo"]
    assert marketing["target"] == 2_100_000 * 0.6
    won = sum(values[v]["revenue"] for v in marketing["values"])
    assert marketing["actual"] == pytest.approx(won, abs=0.01)
    findings = json.loads(result.stdout)["findings"]
    (gap,) = [f for f in findings if f["stage"] == "mql:lead_source=paid_social"]
    assert gap["rule"] == "quality-gap"
    assert gap["text"].startswith("MQLs with lead_source paid_social convert to SQLs at ")
    text = alignmon("status", "--as-of", "2026-11-16T12:00", cwd=tmp_path, env={"COLUMNS": "100"})
    assert "q-new-business by lead_source" in text.stdout
    assert "Marketing: " in text.stdout and "won revenue from lead_source" in text.stdout
    assert "MQL→SQL of lead_source paid_social far below the rest" in text.stdout


def test_bad_as_of_is_a_usage_error(tmp_path: Path) -> None:
    result = alignmon("targets", "--as-of", "last tuesday", cwd=tmp_path)
    assert result.returncode == 2
    assert "--as-of 'last tuesday' is not a date" in result.stderr


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, f"{prefix}{name} "))
    return found


@pytest.mark.parametrize(("name", "command"), _commands(main))
def test_every_command_has_help_with_an_example(name: str, command: click.Command) -> None:
    if isinstance(command, click.Group):
        assert command.help, name
        return
    assert command.help and "Example:" in command.help, f"`alignmon {name}` help has no example"
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert f"alignmon {name}" in readme, f"`alignmon {name}` is not documented in README.md"


def test_alerts_to_silence_loop_by_short_id(tmp_path: Path) -> None:
    """As with amtool: read an id off `alerts` (100 columns), silence it, see
    the silence on the alert, list it, lift it; a silence that matches
    nothing is made with a warning saying what it was checked against."""
    assert alignmon("run", "--once", cwd=tmp_path).returncode == 0
    table = alignmon("alerts", cwd=tmp_path, env={"COLUMNS": "100"})
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith("Open alerts (times in America/New_York)")
    assert max(len(line) for line in lines) <= 100
    first = json.loads(alignmon("alerts", "--format", "json", cwd=tmp_path).stdout)["alerts"][0]
    assert first["id"] in table.stdout and first["fingerprint"] not in table.stdout

    made = alignmon("silence", first["id"], "--for", "2h", "--reason", "on it", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"silence 1: {first['fingerprint']!r} until ")
    assert "warning" not in made.stderr
    after = json.loads(alignmon("alerts", "--format", "json", cwd=tmp_path).stdout)["alerts"][0]
    assert after["silenced_by"] == [1] and after["silenced_until"].endswith("-05:00")
    assert "#1" in alignmon("alerts", cwd=tmp_path, env={"COLUMNS": "100"}).stdout

    typo = alignmon("silence", "pacnig/*", "--for", "1h", "--reason", "x", cwd=tmp_path)
    assert typo.returncode == 0
    assert "'pacnig/*' matches none of the" in typo.stderr and "open or closed" in typo.stderr

    listed = json.loads(alignmon("silence", "list", "--format", "json", cwd=tmp_path).stdout)
    assert [(s["id"], s["state"]) for s in listed["silences"]] == [(2, "active"), (1, "active")]
    lifted = alignmon("silence", "expire", "1", cwd=tmp_path)
    assert lifted.returncode == 0 and "lifted" in lifted.stdout
    listed = json.loads(alignmon("silence", "list", "--format", "json", cwd=tmp_path).stdout)
    assert [(s["id"], s["state"]) for s in listed["silences"]] == [(2, "active"), (1, "expired")]
    assert alignmon("silence", "expire", "9", cwd=tmp_path).returncode == 2


def test_targets_text_shows_spend_capacity_and_commitments(tmp_path: Path) -> None:
    (tmp_path / "alignmon.yaml").write_text(WORKED_EXAMPLES)
    result = alignmon("targets", "--goal", "hundred-fifty-leads", cwd=tmp_path, env=WIDE)
    assert result.returncode == 0, result.stderr
    assert "150 (marketing)" in result.stdout and "16% rate (sales)" in result.stdout
    assert (
        "Spend: the plan needs 10,000 (250 leads × 40) against a budget of 8,000: 2,000 over"
        in result.stdout
    )
    assert "Capacity: 50 SQLs needed, 30 can be handled (10/month): 20 over" in result.stdout
    assert "the budget reaches 200 leads → 80 MQLs → 40 SQLs → 8 won deals" in result.stdout


WIDE = {"COLUMNS": "200"}


def test_plan_needs_no_config_and_no_database(tmp_path: Path) -> None:
    """The source material's examples from flags alone, in an empty
    directory: no config is read and no database is created."""
    ten = alignmon(
        "plan",
        "--closes",
        "10",
        "--rate",
        "lead_to_mql=1",
        "--rate",
        "mql_to_sql=100%",
        "--rate",
        "sql_to_won=0.2",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert ten.returncode == 0, ten.stderr
    (plan,) = json.loads(ten.stdout)["plans"]
    assert {s["stage"]: s["target"] for s in plan["stages"]}["lead"] == 50
    hundred = alignmon(
        "plan", "--revenue", "100000000", "--deal-size", "50000", "--format", "json", cwd=tmp_path
    )
    (plan,) = json.loads(hundred.stdout)["plans"]
    assert plan["stages"][-1] == {
        "stage": "won",
        "target": 2000,
        "cost": None,
        "capacity_per_month": None,
    }
    visits = alignmon(
        "plan",
        "--closes",
        "20",
        "--rate",
        "sql_to_won=0.25",
        "--rate",
        "mql_to_sql=0.4",
        "--rate",
        "lead_to_mql=0.5",
        "--visit-to-lead",
        "0.01",
        "--commit",
        "lead=150",
        cwd=tmp_path,
        env=WIDE,
    )
    assert visits.returncode == 0, visits.stderr
    assert "40,000" in visits.stdout and "│ lead  │    400 │" in visits.stdout
    assert "Marketing commits 150 leads, the plan needs 400 (250 short)." in visits.stdout
    assert list(tmp_path.iterdir()) == []
    assert "built-in demo" not in ten.stderr + hundred.stderr + visits.stderr


def test_plan_forward_from_a_budget_to_the_revenue_goal_that_fits(tmp_path: Path) -> None:
    flags = [
        "--budget",
        "50000",
        "--cost",
        "lead=40",
        "--deal-size",
        "50000",
        "--period",
        "month",
        "--rate",
        "lead_to_mql=0.25",
        "--rate",
        "mql_to_sql=0.4",
        "--rate",
        "sql_to_won=0.2",
    ]
    alone = alignmon("plan", *flags, cwd=tmp_path, env=WIDE)
    assert alone.returncode == 0, alone.stderr
    assert "budget 50,000 │ 1,250 │  312 │  125 │        25 │ 1,250,000" in alone.stdout
    assert "Within the budget, the funnel reaches 1,250,000 of revenue (25 won deals)." in (
        alone.stdout
    )
    both = alignmon("plan", *flags, "--revenue", "2000000", "--format", "json", cwd=tmp_path)
    (plan,) = json.loads(both.stdout)["plans"]
    assert plan["spend"]["total"] == 80_000 and plan["spend"]["over"] == 30_000
    assert plan["fits"] == {
        "limit": "budget",
        "stage": "lead",
        "won": 25,
        "revenue": 1_250_000,
        "covers_goal": False,
    }
    text = alignmon("plan", *flags, "--revenue", "2000000", cwd=tmp_path, env=WIDE).stdout
    assert "To fit the budget, the revenue goal becomes 1,250,000" in text


def test_plan_starts_from_a_configured_goal(tmp_path: Path) -> None:
    (tmp_path / "alignmon.yaml").write_text(WORKED_EXAMPLES)
    result = alignmon(
        "plan",
        "--goal",
        "hundred-fifty-leads",
        "--budget",
        "20000",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (plan,) = json.loads(result.stdout)["plans"]
    assert plan["name"] == "hundred-fifty-leads" and plan["spend"]["over"] == -10_000
    assert [c["short"] for c in plan["commitments"]] == [True, True]
    assert not (tmp_path / "examples.db").exists()
    unknown = alignmon("plan", "--goal", "nope", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "--goal nope: no such goal (goals: ten-closes," in unknown.stderr


def test_plan_with_a_bad_flag_exits_2_with_one_line(tmp_path: Path) -> None:
    result = alignmon("plan", "--closes", "10", "--rate", "sql_to_won=1.5", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "config error: --rate sql_to_won 1.5: Input should be less than or equal to 1"
    ]


RATE_GOALS = """\
timezone: UTC
database: sqlite:///rates.db
sources:
  crm: {kind: demo, months: 7}
goals:
  - name: q-new-business
    source: crm
    revenue: 2100000
    average_deal_size: {auto: true, fallback: 25000}
    rate: {stage: lead_to_mql, improve_by: 0.05}
  - name: mql-quality
    source: crm
    rate: {stage: mql_to_sql, target: 0.3}
"""


def test_status_tracks_rate_goals(tmp_path: Path) -> None:
    """The demo's lead→MQL rate falls this quarter: behind the previous
    quarter's rate plus five points, and the volume goal plans with that
    target; MQL→SQL is above 30%."""
    (tmp_path / "alignmon.yaml").write_text(RATE_GOALS)
    assert alignmon("sync", cwd=tmp_path).returncode == 0
    as_of = ("--as-of", "2026-11-16T12:00")
    result = alignmon("status", "--format", "json", *as_of, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    goals = {g["name"]: g for g in json.loads(result.stdout)["goals"]}
    lead = goals["q-new-business"]["rate_goal"]
    assert (lead["stage"], lead["baseline_source"], lead["verdict"]) == (
        "lead_to_mql",
        "previous period",
        "behind",
    )
    assert lead["target"] == round(lead["baseline"] + 0.05, 4)
    assert lead["high"] < lead["target"] and lead["low"] <= lead["observed"] <= lead["high"]
    assert lead["sample"] >= 30 and lead["cohorts"]["start"] == "2026-10-01"
    planned = next(s for s in goals["q-new-business"]["stages"] if s["stage"] == "lead")
    assert (planned["rate"], planned["rate_source"]) == (lead["target"], "rate goal")
    quality = goals["mql-quality"]
    assert quality["rate_goal"]["verdict"] == "reached"
    assert all(s["target"] is None for s in quality["stages"])
    findings = json.loads(result.stdout)["findings"]
    behind = [f["subject"] for f in findings if f["rule"] == "rate-goal-behind"]
    assert behind == ["q-new-business"]
    text = alignmon("status", *as_of, cwd=tmp_path, env=WIDE).stdout
    assert "Rate goal: lead→MQL goal" in text and "; behind: the whole interval" in text
    assert "Rate goal: MQL→SQL goal 30%" in text and "; reached:" in text
