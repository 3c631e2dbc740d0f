"""The ``alignmon`` command (``main``) and its terminal and JSON output
(``views``)."""
