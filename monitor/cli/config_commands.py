"""``alignmon config``: what the config file may hold, for editors and
scripts."""

from __future__ import annotations

import click


@click.group("config")
def config_group() -> None:
    """The config file's format."""


@config_group.command("schema")
def schema() -> None:
    """Print the config file's JSON Schema (keys, types, defaults, descriptions).

    `alignmon init` writes it next to the config as alignmon.schema.json and
    points editors at it from the file's first line.

    \b
    Example:
      alignmon config schema > alignmon.schema.json
    """
    from monitor.config.schema import schema_text

    click.echo(schema_text(), nl=False)
