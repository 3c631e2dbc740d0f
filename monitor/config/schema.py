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

import ast
import inspect
import json
from datetime import time, timedelta
from itertools import pairwise
from typing import Any, cast

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from monitor.config.file import Config
from monitor.config.types import format_duration

#: Where ``alignmon init`` writes the schema, next to the config file; the
#: config's first line points editors at it.
SCHEMA_FILE = "alignmon.schema.json"
MODELINE = f"# yaml-language-server: $schema={SCHEMA_FILE}"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _AsWritten(GenerateJsonSchema):
    """Defaults in the file's own notation (``15m``, ``09:00``), not
    pydantic's ISO forms (``PT15M``, ``09:00:00``); the docstring under a
    field as its description."""

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        json_schema = super().model_schema(schema)
        model: type[BaseModel] = schema["cls"]
        properties = json_schema.get("properties", {})
        for name, doc in attribute_docstrings(model).items():
            field = model.model_fields.get(name)
            shown = properties.get((field.alias or name) if field else name)
            if shown is not None:
                shown.setdefault("description", doc)
        return json_schema

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, timedelta):
            return format_duration(dft)
        if isinstance(dft, time):
            return dft.strftime("%H:%M")
        return super().encode_default(dft)


def attribute_docstrings(model: type[BaseModel]) -> dict[str, str]:
    """The string under each field of ``model`` and of the models it
    extends. Read here, when the schema is written, rather than by pydantic
    as each model is defined (``use_attribute_docstrings``): reading the
    source of every model took a tenth of each command's start."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        body = cast(ast.ClassDef, ast.parse(inspect.getsource(cls)).body[0]).body
        for field, doc in pairwise(body):
            if (
                isinstance(field, ast.AnnAssign)
                and isinstance(field.target, ast.Name)
                and isinstance(doc, ast.Expr)
                and isinstance(doc.value, ast.Constant)
                and isinstance(doc.value.value, str)
            ):
                found[field.target.id] = inspect.cleandoc(doc.value.value)
    return found


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
