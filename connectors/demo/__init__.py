"""The built-in demo CRM (``kind: demo``): a source that needs no account.

``settings`` holds its config, ``generator`` a deterministic history up to
the clock's now, and ``connector`` serves that history page by page exactly
as a real connector serves a CRM's, so everything downstream treats the demo
like any CRM.
"""
