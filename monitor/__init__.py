"""alignmon's core. The folders read as the data flow:

    connectors/ (one folder per CRM)
      -> sync.py        connector pages into the store
      -> store/         the database: records, day rollups, alerts, outbox (all SQL)
      -> evaluate.py    the store's facts handed to the judges at one ``as_of``
      -> judge/         pure: plan, pacing, alignment checks, SLA, alert lifecycle
      -> dispatch.py    findings -> alert states and queued notifications, one transaction
      -> outbox.py      queued notifications -> a notifier, with retries
      -> notifiers/     Slack and the console
    summary.py          the daily summary and its chart
    backtest.py         evaluate.py and dispatch.py's grouping over a past window, in
                        memory: what would have been posted (`alignmon backtest`)

Underneath: ``interfaces.py`` (the seams a connector or notifier is written
against), ``facts.py`` and ``findings.py`` (what the store and the judges
exchange), ``errors.py`` and ``config/``. On top: ``service/`` (the shared
application context and the long-running service) and ``cli/`` (the
``alignmon`` command). docs/design.md describes each part.
"""
