"""Running alignmon: ``app`` (the context every command shares: config,
store, connectors, notifier), ``scheduler`` (``alignmon run``: the jobs and
their database leases), ``single`` (one service per SQLite file), ``http``
and ``metrics`` (health and Prometheus endpoint), ``logs`` (redacting log
setup)."""
