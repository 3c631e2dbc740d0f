"""Find, read and validate the config file: the one place raw YAML becomes
a typed ``Config``.

Errors name the file, the line and the key, and for a mistyped key the
nearest valid one — the user fixes one thing and reruns. YAML is composed to
nodes first so every key keeps its line; ``${VAR}`` is expanded from the
environment at that stage, so a missing variable is reported at its key.
"""

from __future__ import annotations

import os
import re
import stat
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from monitor.config.database import resolve_database
from monitor.config.file import Config, reference_errors
from monitor.errors import ConfigError

ENV_VAR = "ALIGNMON_CONFIG"
DEFAULT_FILE = "alignmon.yaml"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Values one file may expand to: far beyond any real config, and what stops
#: aliases of aliases ("billion laughs") from expanding for minutes.
MAX_VALUES = 100_000
#: Real configs are a few kilobytes; reading a huge file would take a minute.
MAX_CHARS = 1_000_000
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TAG_NAMES = {
    "tag:yaml.org,2002:int": "a whole number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:timestamp": "a date",
}

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class LoadedConfig:
    """The validated config and where it came from (``demo`` is True for the
    built-in demo, used when no file is found)."""

    config: Config
    path: str
    demo: bool = False
    #: One-line warnings to show once (a config file with a literal secret
    #: that others can read).
    warnings: tuple[str, ...] = ()


def locate(explicit: str | None) -> str | None:
    """``--config``, else ``$ALIGNMON_CONFIG``, else ``./alignmon.yaml``;
    None means the built-in demo."""
    if explicit:
        return explicit
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return from_env
    return DEFAULT_FILE if Path(DEFAULT_FILE).is_file() else None


def starter_text() -> str:
    """The commented starter config ``alignmon init`` writes."""
    return resources.files("monitor.config").joinpath("starter.yaml").read_text(encoding="utf-8")


def load(explicit: str | None = None) -> LoadedConfig:
    path = locate(explicit)
    if path is None:
        text = resources.files("monitor.config").joinpath("demo.yaml").read_text(encoding="utf-8")
        demo = _located(parse(text, "<built-in demo>"), Path.cwd())
        return LoadedConfig(demo, "<built-in demo>", demo=True)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "config file not found; run `alignmon init` to write one", path=path
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror}", path=path) from None
    except UnicodeDecodeError as exc:
        line = exc.object.count(b"\n", 0, exc.start) + 1
        raise ConfigError("the config file is not UTF-8 text", path=path, line=line) from None
    builder = _Builder({}, os.environ, path)
    config = _located(_parse(text, path, builder), Path(path).parent)
    return LoadedConfig(config, path, warnings=tuple(_exposure(path, builder.literal_secrets)))


def _located(config: Config, base: Path) -> Config:
    """The config with a relative SQLite database placed under ``base``:
    the config file's directory (the working directory for the demo)."""
    return config.model_copy(update={"database": resolve_database(config.database, base)})


def _exposure(path: str, literal: list[Loc]) -> list[str]:
    """Like ssh with a private key: a file holding a secret in clear that
    the group or others may read earns one warning naming it and its mode."""
    if not literal:
        return []
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return []
    if not mode & 0o077:
        return []
    return [
        f"warning: {path} holds a secret ({_dotted(literal[0])}) and its mode {mode:04o} lets "
        f"others read it; run `chmod 600 {path}` or put the secret in an environment variable "
        "(${VAR})"
    ]


def parse(text: str, path: str, environ: Mapping[str, str] | None = None) -> Config:
    """Validate YAML text into a Config, or raise one ConfigError."""
    env = os.environ if environ is None else environ
    return _parse(text, path, _Builder({}, env, path))


def _parse(text: str, path: str, builder: _Builder) -> Config:
    if len(text) > MAX_CHARS:
        raise ConfigError(
            f"the file has {len(text):,} characters; a config file is at most {MAX_CHARS:,}",
            path=path,
        )
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, path) from None
    except RecursionError:
        raise ConfigError("the file nests too deeply to read", path=path) from None
    if node is None:
        raise ConfigError("the config file is empty; run `alignmon init` for a starter", path=path)
    lines = builder.lines
    try:
        data = builder.build(node, ())
    except RecursionError:
        raise ConfigError("the file nests too deeply to read", path=path) from None
    if data is None:  # a document of only "---" or "~"
        raise ConfigError("the config file is empty; run `alignmon init` for a starter", path=path)
    if not isinstance(data, dict):
        raise ConfigError(
            "the config must be a mapping of keys (timezone, sources, goals, …)",
            path=path,
            line=node.start_mark.line + 1,
        )
    try:
        try:
            config = Config.model_validate(data)
        except ValidationError as exc:
            raise _first_error(exc, data, lines, path, builder.from_env) from None
        for loc in _yes_no_numbers(data, config):
            raise ConfigError(
                f"{_dotted(loc)}: {_YES_NO}",
                path=path,
                line=_line_for(loc, lines),
                key=_dotted(loc),
            )
        for loc, message in reference_errors(config):
            raise ConfigError(
                f"{_dotted(loc)}: {message}",
                path=path,
                line=_line_for(loc, lines),
                key=_dotted(loc),
            )
    except ConfigError as exc:
        raise _unquoted(exc, builder.from_env) from None
    return config


_YES_NO = "a yes/no value (true, yes, on, …) is not a number; write the number"
#: Values shorter than this are not searched for in messages: a "4" from
#: the environment must not blank every 4 in a line.
_MIN_SCRUBBED = 4


def _unquoted(error: ConfigError, from_env: dict[Loc, dict[str, str]]) -> ConfigError:
    """The error without any value that came from the environment: those
    hold secrets, even when placed under a key that is not one."""
    message = str(error)
    if error.path and message.startswith(error.path):
        message = message.removeprefix(
            f"{error.path}:{error.line}: " if error.line else f"{error.path}: "
        )
    clean = message
    for names in from_env.values():
        for name, value in names.items():
            for shown in (repr(value), value.strip(), value):
                if len(shown) >= _MIN_SCRUBBED:
                    clean = clean.replace(shown, f"${{{name}}}")
    if clean == message:
        return error
    return ConfigError(clean, path=error.path, line=error.line, key=error.key)


def _yes_no_numbers(data: Any, config: Config) -> Iterator[Loc]:
    """Where the file wrote a yes/no value that became a number: YAML reads
    ``yes`` as true, and pydantic would take true as 1 (``closes: yes`` a
    one-close goal, ``lead_to_mql: true`` a 100% rate)."""
    for loc, value in _leaves(data, ()):
        if isinstance(value, bool):
            held = _resolve(config, loc)
            if isinstance(held, int | float) and not isinstance(held, bool):
                yield loc


def _leaves(node: Any, loc: Loc) -> Iterator[tuple[Loc, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*loc, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves(value, (*loc, index))
    else:
        yield loc, node


_ABSENT = object()


def _resolve(model: Any, loc: Loc) -> Any:
    """The validated value that the data at ``loc`` became."""
    node = model
    for part in loc:
        if isinstance(node, BaseModel):
            fields = type(node).model_fields
            name = next((n for n, f in fields.items() if part in (n, f.alias)), None)
            if name is None:
                return _ABSENT
            node = getattr(node, name)
        elif isinstance(node, Mapping):
            node = node.get(part, _ABSENT)
        elif isinstance(node, list | tuple) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return _ABSENT
    return node


class _Builder:
    """Turns composed YAML nodes into plain data, recording each key's line
    and expanding ``${VAR}`` in scalars."""

    def __init__(self, lines: dict[Loc, int], env: Mapping[str, str], path: str) -> None:
        self.lines = lines
        self.env = env
        self.path = path
        self.scalars = yaml.SafeLoader("")
        self.built = 0
        self.open: set[int] = set()  # collections being built: an alias back to one is a cycle
        #: Locations whose value came from ``${VAR}``: variable name → value.
        self.from_env: dict[Loc, dict[str, str]] = {}
        #: Secret keys written in clear in the file.
        self.literal_secrets: list[Loc] = []

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        line = node.start_mark.line + 1
        self.lines.setdefault(loc, line)
        self.built += 1
        if self.built > MAX_VALUES:
            raise ConfigError(
                f"the file expands to more than {MAX_VALUES:,} values (aliases of aliases?)",
                path=self.path,
                line=line,
            )
        if isinstance(node, yaml.CollectionNode):
            if id(node) in self.open:
                raise ConfigError(
                    f"{_dotted(loc)}: an alias refers to a value that contains it",
                    path=self.path,
                    line=line,
                )
            self.open.add(id(node))
            try:
                if isinstance(node, yaml.MappingNode):
                    return self._mapping(node, loc)
                return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
            finally:
                self.open.discard(id(node))
        value = self._scalar(node, loc)
        if isinstance(value, str) and "${" in value:
            used = {name: self.env[name] for name in _VAR.findall(value) if name in self.env}
            value = _expand(value, loc, self.lines[loc], self.env, self.path)
            if used:
                self.from_env[loc] = used
        elif isinstance(value, str) and value.strip() and _is_secret_loc(loc):
            self.literal_secrets.append(loc)
        return value

    def _scalar(self, node: yaml.Node, loc: Loc) -> Any:
        """A scalar as YAML types it; a value its tag cannot hold (a 30 February,
        a number of 5,000 digits) or a tag outside safe YAML is a config error."""
        try:
            return self.scalars.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError):
            raise self._scalar_error(node, loc) from None

    def _scalar_error(self, node: yaml.Node, loc: Loc) -> ConfigError:
        where = f"{_dotted(loc)}: " if loc else ""
        shown = "the value" if _is_secret_loc(loc) else _short(node.value)
        if node.tag == _MERGE_TAG:
            message = "merge keys (<<) are not supported; write the keys out"
        elif node.tag in _TAG_NAMES:
            message = f"{shown} is not {_TAG_NAMES[node.tag]} alignmon can read"
        else:
            message = f"the YAML tag {node.tag} is not supported"
        return ConfigError(
            where + message, path=self.path, line=node.start_mark.line + 1, key=_dotted(loc) or None
        )

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            key = self._scalar(key_node, loc) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str | int):
                raise ConfigError("keys must be plain words", path=self.path, line=line)
            if key in out:
                raise ConfigError(
                    f"key {key!r} appears twice", path=self.path, line=line, key=str(key)
                )
            self.lines[(*loc, key)] = line
            out[key] = self.build(value_node, (*loc, key))
        return out


def _yaml_error(exc: yaml.YAMLError, text: str, path: str) -> ConfigError:
    """One line naming the problem and where it is."""
    if isinstance(exc, yaml.reader.ReaderError):
        # Raised before parsing starts: it carries an offset, not a line.
        line = text.count("\n", 0, exc.position) + 1
        found = chr(exc.character) if isinstance(exc.character, int) else exc.character
        return ConfigError(
            f"not valid YAML: the control character {found!r} is not allowed",
            path=path,
            line=line,
        )
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return ConfigError(
        f"not valid YAML: {problem}", path=path, line=mark.line + 1 if mark else None
    )


def _expand(value: str, loc: Loc, line: int, env: Mapping[str, str], path: str) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(
                f"{_dotted(loc)}: environment variable {name} is not set; export it or "
                "put the value in the file",
                path=path,
                line=line,
                key=_dotted(loc),
            )
        return env[name]

    return _VAR.sub(sub, value)


# Errors that only say "this union member is the wrong type": when a union
# value fails, the member the user evidently meant explains it better.
_TYPE_MISMATCH = {
    "literal_error",
    "float_type",
    "float_parsing",
    "int_type",
    "int_parsing",
    "dict_type",
    "model_type",
    "model_attributes_type",
    "string_type",
    "bool_type",
    "list_type",
}


def _first_error(
    exc: ValidationError,
    data: Any,
    lines: dict[Loc, int],
    path: str,
    from_env: Mapping[Loc, Mapping[str, str]],
) -> ConfigError:
    errors = exc.errors(include_url=False)
    meaningful = [e for e in errors if e["type"] not in _TYPE_MISMATCH]
    if not meaningful:
        # Only "wrong type" complaints, one per union member: the deepest is
        # about the member the user wrote (a mapping's field, not "a number").
        meaningful = [max(errors, key=lambda e: len(_data_loc(tuple(e["loc"]), data)))]
    error = next((e for e in meaningful if e["type"] == "extra_forbidden"), meaningful[0])
    loc = _data_loc(tuple(error["loc"]), data)
    line = _line_for(loc, lines)
    key = _dotted(loc)
    if error["type"] == "extra_forbidden":
        import difflib  # for a mistyped key only: a valid config never needs it

        valid = _valid_keys(loc[:-1], data)
        hint = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.75)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        listing = f" (valid here: {', '.join(valid)})" if valid and not hint else ""
        return ConfigError(
            f"unknown key {key!r}{suggestion}{listing}", path=path, line=line, key=key
        )
    if error["type"] == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return ConfigError(
            f"{key}: kind {ctx.get('tag')!r} is not a known source kind "
            f"(valid: {ctx.get('expected_tags', '').replace(chr(39), '')})",
            path=path,
            line=line,
            key=key,
        )
    if error["type"] == "missing":
        return ConfigError(f"{key}: this key is required", path=path, line=line, key=key)
    message = error["msg"].removeprefix("Value error, ")
    got = ""
    if isinstance(error.get("input"), bool) and error["type"] in _NUMBER_CHECKS:
        message = _YES_NO
    elif loc in from_env:
        got = f" (got the value of ${{{next(iter(from_env[loc]))}}}, not shown)"
    elif error["type"] not in ("value_error", "assertion_error") and "input" in error:
        shown = error["input"]
        if not isinstance(shown, dict | list) and not _is_secret_loc(loc):
            got = f" (got {_short(shown)})"
    where = f"{key}: " if key else ""
    return ConfigError(f"{where}{message}{got}", path=path, line=line, key=key or None)


#: Errors a number check gives: for a yes/no value, the real problem is
#: that it is not a number at all.
_NUMBER_CHECKS = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "multiple_of",
}


def _data_loc(loc: Loc, data: Any) -> Loc:
    """Drop the tags pydantic inserts into error locations (union members
    like ``hubspot`` or ``float``) so the location matches the YAML."""
    out: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        if _holds(node, part):
            out.append(part)
            node = node[part]
        elif index == len(loc) - 1 and isinstance(node, dict) and not _is_union_tag(part):
            out.append(part)  # a required key that is missing from this mapping
    return tuple(out)


def _holds(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _is_union_tag(part: str | int) -> bool:
    """pydantic names union members in error locations by class name
    (``AutoRate``), ``literal[...]`` or ``constrained-float``; config keys
    are lower-case words."""
    return isinstance(part, str) and (part[:1].isupper() or "[" in part or "-" in part)


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _valid_keys(loc: Loc, data: Any) -> list[str]:
    """The field names of the model that sits at ``loc`` in the config."""
    model: Any = Config
    node = data
    for part in loc:
        node = node[part] if _holds(node, part) else None
        model = _child_model(model, part, node)
        if model is None:
            return []
    fields = getattr(model, "model_fields", {})
    return sorted(info.alias or name for name, info in fields.items())


def _child_model(model: Any, part: str | int, node: Any) -> Any:
    if isinstance(model, type) and issubclass(model, BaseModel):
        info = model.model_fields.get(str(part))
        if info is None:
            info = next((f for f in model.model_fields.values() if f.alias == part), None)
        return _pick(info.annotation if info else None, node)
    origin = typing.get_origin(model)
    if origin in (dict, list, tuple):
        args = typing.get_args(model)
        return _pick(args[-1] if args else None, node)
    return None


def _pick(annotation: Any, node: Any) -> Any:
    """Resolve Annotated/Optional/unions to the model the node is written as
    (for ``sources`` unions, the member whose ``kind`` matches)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [_pick(arg, node) for arg in typing.get_args(annotation)]
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        kind = node.get("kind") if isinstance(node, dict) else None
        for candidate in models:
            tag = candidate.model_fields.get("kind")
            if tag is not None and kind in typing.get_args(tag.annotation):
                return candidate
        containers = [m for m in members if typing.get_origin(m) in (dict, list, tuple)]
        return models[0] if len(models) == 1 else (containers[0] if containers else None)
    return annotation


def _is_secret_loc(loc: Loc) -> bool:
    return any(
        str(p) in ("token", "password", "session_id", "security_token", "consumer_secret")
        for p in loc
    )


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, str) and not part.isprintable():
            part = repr(part)  # a key with a newline in it must not break the message in two
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: Any, limit: int = 60) -> str:
    """``repr`` of a value for a message, cut short: a message stays one line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
