"""The config file's JSON Schema, generated from the config models, so an
editor with a YAML language server completes keys and flags mistakes as
they are typed, before ``alignmon check`` would.

The schema describes the file as written: durations and clock times are
strings (``15m``, ``"09:00"``), defaults are shown the way a user would
write them. ``${VAR}`` makes any value a string before validation, so a
number read from the environment is flagged by the editor; the loader is
the authority.
"""

from __future__ import annotations

import json
from datetime import time, timedelta
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from monitor.config.file import Config
from monitor.config.types import format_duration

#: Where ``alignmon init`` writes the schema, next to the config file; the
#: config's first line points editors at it.
SCHEMA_FILE = "alignmon.schema.json"
MODELINE = f"# yaml-language-server: $schema={SCHEMA_FILE}"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _AsWritten(GenerateJsonSchema):
    """Defaults in the file's own notation (``15m``, ``09:00``), not
    pydantic's ISO forms (``PT15M``, ``09:00:00``)."""

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, timedelta):
            return format_duration(dft)
        if isinstance(dft, time):
            return dft.strftime("%H:%M")
        return super().encode_default(dft)


def config_schema() -> dict[str, Any]:
    schema = Config.model_json_schema(schema_generator=_AsWritten)
    return {
        "$schema": DIALECT,
        "title": "alignmon config",
        **{key: value for key, value in schema.items() if key != "title"},
    }


def schema_text() -> str:
    """The schema as committed (``config/alignmon.schema.json``) and
    written by ``alignmon init``: stable key order, a final newline."""
    return json.dumps(config_schema(), indent=2, ensure_ascii=False) + "\n"
