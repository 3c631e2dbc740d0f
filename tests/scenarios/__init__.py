"""Signal-quality scenarios: generated CRM histories whose truth is known,
replayed through the service's own entry points over a simulated month.

- ``generator``: a ``Scenario`` (volumes, conversion rates, lags, injected
  problems) → ``FunnelRecord``s, and the plan that truth implies;
- ``backtest``: writes the records into a fresh store and replays a window
  step by step (evaluate, record, deliver), collecting every posted message
  and every raw finding;
- ``test_signal_quality``: what the alerts must say on those scenarios;
- ``python -m tests.scenarios``: the same scenarios at the service's cadence,
  printed as a Markdown table.
"""
