"""``python -m monitor`` runs the CLI."""

from monitor.cli.main import main

main()
