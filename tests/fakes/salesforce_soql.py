"""The SOQL subset the fake Salesforce answers: enough for the connector's
own queries and no more, so a query the connector should not send fails
loudly (MALFORMED_QUERY / INVALID_FIELD, as Salesforce would answer).

    SELECT a, b, Owner.Email, ConvertedOpportunity.IsWon FROM Object
    [WHERE cond {AND|OR cond} with ( ) grouping and NOT]
    [ORDER BY a [ASC|DESC], ...] [LIMIT n]

where ``cond`` is ``field op literal`` or ``field [NOT] IN (literal, ...)``,
op one of = != <> < <= > >=, and a literal is a datetime, a date, a number,
a 'quoted string', TRUE, FALSE or NULL. Field names are case-insensitive and
resolve to the schema's spelling; ``Parent.Field`` reaches a parent record
through OwnerId (``Owner``) or a reference field named in ``references``.
The query records every parent path it uses (``Query.paths``) so the caller
can look the parents up before filtering.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]
#: Object → reference field → (relationship name, parent object).
References = Mapping[str, Mapping[str, tuple[str, str]]]

#: Parent fields reachable through OwnerId.
OWNER_FIELDS = ("Email", "Name")

_TOKENS = re.compile(
    r"""\s*(?:
      (?P<datetime>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d))
    | (?P<date>\d{4}-\d\d-\d\d)
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
    )""",
    re.VERBOSE,
)


class SoqlError(ValueError):
    """A query Salesforce would refuse, with its error code."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Query:
    sobject: str
    columns: list[str]
    where: Predicate
    order: list[tuple[str, bool]]  # (field, descending)
    limit: int | None
    paths: frozenset[str] = frozenset()  # Parent.Field columns used anywhere


def tokens(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKENS.match(text, position)
        if not match or match.end() == position:
            raise SoqlError(
                "MALFORMED_QUERY", f"unexpected text at {text[position : position + 20]!r}"
            )
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


class _Parser:
    def __init__(
        self, text: str, schema: Mapping[str, Mapping[str, str]], references: References
    ) -> None:
        self.items = tokens(text)
        self.at = 0
        self.schema = schema
        self.references = references
        self.fields: Mapping[str, str] = {}
        self.sobject = ""
        self.paths: set[str] = set()

    def peek(self) -> tuple[str, str]:
        return self.items[self.at] if self.at < len(self.items) else ("end", "")

    def take(self) -> tuple[str, str]:
        item = self.peek()
        self.at += 1
        return item

    def keyword(self, word: str) -> bool:
        kind, value = self.peek()
        if kind == "name" and value.upper() == word:
            self.at += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.keyword(word):
            raise SoqlError("MALFORMED_QUERY", f"expected {word} near {self.peek()[1]!r}")

    def parse(self) -> Query:
        self.expect("SELECT")
        raw_columns = [self.name()]
        while self.peek() == ("punct", ","):
            self.take()
            raw_columns.append(self.name())
        self.expect("FROM")
        self.sobject = self.resolve_object(self.name())
        self.fields = {f.lower(): f for f in self.schema[self.sobject]}
        columns = [self.column(c) for c in raw_columns]
        where: Predicate = lambda record: True  # noqa: E731
        if self.keyword("WHERE"):
            where = self.disjunction()
        order: list[tuple[str, bool]] = []
        if self.keyword("ORDER"):
            self.expect("BY")
            order.append(self.order_item())
            while self.peek() == ("punct", ","):
                self.take()
                order.append(self.order_item())
        limit = None
        if self.keyword("LIMIT"):
            kind, value = self.take()
            if kind != "number":
                raise SoqlError("MALFORMED_QUERY", "LIMIT needs a number")
            limit = int(value)
        if self.peek()[0] != "end":
            raise SoqlError("MALFORMED_QUERY", f"unexpected {self.peek()[1]!r}")
        return Query(self.sobject, columns, where, order, limit, frozenset(self.paths))

    def name(self) -> str:
        kind, value = self.take()
        if kind != "name":
            raise SoqlError("MALFORMED_QUERY", f"expected a name, got {value!r}")
        return value

    def resolve_object(self, name: str) -> str:
        for sobject in self.schema:
            if sobject.lower() == name.lower():
                return sobject
        raise SoqlError("INVALID_TYPE", f"sObject type '{name}' is not supported.")

    def column(self, name: str) -> str:
        if "." in name:
            path = self.parent_column(*name.split("."))
            if path is not None:
                self.paths.add(path)
                return path
        elif name.lower() in self.fields:
            return self.fields[name.lower()]
        raise SoqlError("INVALID_FIELD", f"No such column '{name}' on entity '{self.sobject}'.")

    def parent_column(self, relation: str, child: str) -> str | None:
        """``Relation.Field`` spelled as the schema spells both, or None."""
        if relation.lower() == "owner" and "ownerid" in self.fields:
            spelled = {f.lower(): f for f in OWNER_FIELDS}.get(child.lower())
            return f"Owner.{spelled}" if spelled else None
        for field, (name, target) in self.references.get(self.sobject, {}).items():
            if name.lower() == relation.lower() and field.lower() in self.fields:
                spelled = {f.lower(): f for f in self.schema[target]}.get(child.lower())
                return f"{name}.{spelled}" if spelled else None
        return None

    def order_item(self) -> tuple[str, bool]:
        field = self.column(self.name())
        descending = self.keyword("DESC")
        if not descending:
            self.keyword("ASC")
        return field, descending

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.keyword("OR"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else lambda r: any(p(r) for p in parts)

    def conjunction(self) -> Predicate:
        parts = [self.factor()]
        while self.keyword("AND"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else lambda r: all(p(r) for p in parts)

    def factor(self) -> Predicate:
        if self.keyword("NOT"):
            inner = self.factor()
            return lambda r: not inner(r)
        if self.peek() == ("punct", "("):
            self.take()
            inner = self.disjunction()
            if self.take() != ("punct", ")"):
                raise SoqlError("MALFORMED_QUERY", "missing )")
            return inner
        field = self.column(self.name())
        negated = self.keyword("NOT")
        if self.keyword("IN"):
            values = self.literals()
            return lambda r: (r.get(field) in values) != negated
        kind, op = self.take()
        if negated or kind != "op":
            raise SoqlError("MALFORMED_QUERY", f"expected an operator after {field}, got {op!r}")
        return _comparison(field, op, self.literal())

    def literals(self) -> list[Any]:
        """``(literal, literal, ...)``, as after IN."""
        if self.take() != ("punct", "("):
            raise SoqlError("MALFORMED_QUERY", "IN needs a list in parentheses")
        values = [self.literal()]
        while self.peek() == ("punct", ","):
            self.take()
            values.append(self.literal())
        if self.take() != ("punct", ")"):
            raise SoqlError("MALFORMED_QUERY", "missing ) after the IN list")
        return values

    def literal(self) -> Any:
        kind, value = self.take()
        if kind == "datetime":
            return datetime.fromisoformat(value)
        if kind == "date":
            return date.fromisoformat(value)
        if kind == "number":
            return float(value)
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", value[1:-1])
        if kind == "name" and value.upper() in ("TRUE", "FALSE", "NULL"):
            return {"TRUE": True, "FALSE": False, "NULL": None}[value.upper()]
        raise SoqlError("MALFORMED_QUERY", f"expected a value, got {value!r}")


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _comparison(field: str, op: str, value: Any) -> Predicate:
    if op == "=":
        return lambda r: r.get(field) == value
    if op in ("!=", "<>"):
        return lambda r: r.get(field) != value
    if value is None:
        raise SoqlError("MALFORMED_QUERY", f"{op} NULL is not allowed")
    compare = _OPERATORS[op]

    def test(record: Record) -> bool:
        current = record.get(field)
        if current is None:
            return False
        try:
            return compare(current, value)
        except TypeError:
            raise SoqlError(
                "INVALID_QUERY_FILTER_OPERATOR", f"value of filter criterion for field '{field}'"
            ) from None

    return test


def parse(
    text: str, schema: Mapping[str, Mapping[str, str]], references: References | None = None
) -> Query:
    """Parse ``text`` against ``schema`` (object → field → type) and the
    reference fields that lead to parent objects."""
    return _Parser(text, schema, references or {}).parse()


def sort_key(order: list[tuple[str, bool]]) -> Callable[[Record], Any]:
    """Nulls first, as Salesforce sorts ascending; one direction per query
    is all the connector uses."""
    return lambda r: [(r.get(f) is not None, r.get(f)) for f, _ in order]
