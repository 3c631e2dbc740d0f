"""The top of the App Home tab for a rep: their own SLA compliance and the
records still waiting for their follow-up, before everyone's tables.

The person opening Home is matched to CRM owners by e-mail (Slack's
profile e-mail, ``users:read.email``), the same key SLA results group
owners by; someone who owns no record of a rule sees nothing of it here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from monitor.config.models import SlaRule
from monitor.judge.format import percent
from monitor.judge.sla import RecordSla, SlaResult, State
from monitor.notifiers.render import clip, link, more

#: Records listed per rule; the rest are counted (``sla`` lists them all).
MAX_RECORDS = 10
#: States of a record still waiting for its first touch.
WAITING = (State.OPEN, State.AT_RISK, State.PENDING)


def own_sla_blocks(
    results: Sequence[tuple[SlaRule, SlaResult]],
    email: str | None,
    zone: ZoneInfo,
    command: str,
    room: int,
) -> list[dict[str, Any]]:
    """One section per SLA rule in which ``email`` owns records (none when
    they own none, or their e-mail is unknown); each at most ``room``
    characters."""
    if not email:
        return []
    wanted = email.lower()
    blocks = []
    for rule, result in results:
        owner = next((o for o in result.by_owner if o and o.lower() == wanted), None)
        if owner is None:
            continue
        stats = result.by_owner[owner]
        rate = "—" if stats.met_rate is None else percent(stats.met_rate)
        everyone = result.overall.met_rate
        counts = stats.counts
        lines = [
            f"*Your SLA {rule.name}*: {rate} followed up in time, last 7 days "
            f"({counts[State.MET]} met, {counts[State.LATE]} late, {counts[State.OPEN]} overdue, "
            f"{counts[State.AT_RISK]} at risk)"
            + ("" if everyone is None else f" · everyone: {percent(everyone)}")
        ]
        mine = sorted(
            (r for r in result.records if _owned(r, wanted) and _waiting(r)),
            key=lambda r: (r.deadline is None, r.deadline or result.as_of),
        )
        lines += [_record_line(r, zone) for r in mine[:MAX_RECORDS]]
        if len(mine) > MAX_RECORDS:
            lines.append(f"{more(len(mine) - MAX_RECORDS)}: `{command} sla {rule.name}`")
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": clip("\n".join(lines), room)}}
        )
    return blocks


def _owned(record: RecordSla, email: str) -> bool:
    return (record.record.owner_email or "").lower() == email


def _waiting(record: RecordSla) -> bool:
    return record.state in WAITING and record.touched_at is None


def _record_line(record: RecordSla, zone: ZoneInfo) -> str:
    name = link(record.record.name or record.record.crm_id, record.record.url)
    deadline = record.deadline
    if deadline is None:
        return f"• {name}: the clock has not started"
    if record.state is State.OPEN:
        return f"• {name}: overdue since {_when(deadline, zone)}"
    return f"• {name}: follow up by {_when(deadline, zone)}"


def _when(at: datetime, zone: ZoneInfo) -> str:
    return f"{at.astimezone(zone):%a %d %b %H:%M %Z}"
