"""The judges: pure functions from counted facts, config and ``as_of`` to
plans, reports and findings, and from findings to alert states.

Nothing here does I/O or reads the clock, so a backtest is the same call
with an older ``as_of`` and every rule is tested with literal tables.
``reconciler`` judges a goal (plan: ``funnel``; pace: ``periods``,
``business_time``; alignment: ``checks``), ``sla`` a follow-up rule,
``health`` a source's freshness; ``alerts`` decides which findings people
hear about, ``messages`` words what they hear.
"""
