"""Connectors: one folder per CRM, each turning API pages into normalised
records (``monitor.interfaces.Connector``). ``registry`` is the table of
every ``kind:`` alignmon can read."""
