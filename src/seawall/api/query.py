"""Harbor's `q` query language and `sort` parameter, applied to SQLAlchemy selects.

`q` is a comma-separated list of `key=value` terms:

    name=library           exact match
    name=~lib              fuzzy (substring) match
    creation_time=[a~b]    range, either end may be empty
    name={a b c}           any of the values
    name=(a b)             all of the values

Values may be quoted. `sort` is a comma-separated list of keys, each
optionally prefixed with `-` for descending order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from sqlalchemy import BigInteger, ColumnElement, Select, and_, or_

from seawall.api.errors import bad_request


@dataclass(frozen=True)
class Term:
    key: str
    kind: str  # "exact", "fuzzy", "range", "any" or "all"
    values: tuple[str, ...]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _split_terms(query: str) -> list[str]:
    terms: list[str] = []
    depth = 0
    current = ""
    for char in query:
        if char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term for term in terms if term.strip()]


def parse_query(raw: str | None) -> list[Term]:
    """Parse a `q` parameter, raising a 400 error on a malformed term."""
    if not raw:
        return []
    decoded = unquote(raw)
    if "\x00" in decoded:
        # PostgreSQL rejects NUL in text parameters instead of matching nothing.
        raise bad_request("the query string must not contain NUL characters")
    terms = []
    for text in _split_terms(decoded):
        key, sep, value = text.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise bad_request(
                'the query string must contain "=" and the key/value cannot be empty'
            )
        if value.startswith("~"):
            terms.append(Term(key, "fuzzy", (_unquote(value[1:]),)))
        elif value.startswith("[") and value.endswith("]"):
            low, sep, high = value[1:-1].partition("~")
            if not sep:
                raise bad_request(f"range for {key} must be [min~max]")
            terms.append(Term(key, "range", (_unquote(low), _unquote(high))))
        elif value.startswith("{") and value.endswith("}"):
            terms.append(
                Term(key, "any", tuple(_unquote(v) for v in value[1:-1].split()))
            )
        elif value.startswith("(") and value.endswith(")"):
            terms.append(
                Term(key, "all", tuple(_unquote(v) for v in value[1:-1].split()))
            )
        else:
            terms.append(Term(key, "exact", (_unquote(value),)))
    return terms


def _python_type(column: Any) -> Any:
    # A TypeDecorator such as UTCDateTime reports `object`, so the Python
    # type comes from its storage type (`impl`).
    storage_type = getattr(column.type, "impl", column.type)
    try:
        return storage_type.python_type
    except NotImplementedError:
        return str


def _convert(column: Any, value: str) -> Any:
    python_type = _python_type(column)
    if python_type is bool:
        return value.lower() in {"true", "1"}
    if python_type is datetime:
        return _parse_time(value)
    if python_type is int:
        digits = value.removeprefix("-")
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 19:
            raise bad_request(f"invalid integer {value!r} in query")
        # PostgreSQL rejects a parameter outside the column's range instead
        # of matching nothing.
        bits = 64 if isinstance(getattr(column, "type", None), BigInteger) else 32
        if not -(2 ** (bits - 1)) <= int(value) < 2 ** (bits - 1):
            raise bad_request(f"integer {value} in query is out of range")
        return int(value)
    return value


def _parse_time(value: str) -> datetime:
    """Parse Harbor's "2020-04-09 02:36:00" or ISO 8601. A time without a zone is UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise bad_request(
            f'invalid time {value!r} in query; use the format "2020-04-09 02:36:00"'
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _condition(column: Any, term: Term) -> ColumnElement[bool]:
    if term.kind == "fuzzy":
        if _python_type(column) is not str:
            raise bad_request(
                f"fuzzy match (=~) works on text keys only, not {term.key}"
            )
        pattern = (
            term.values[0].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        )
        condition: ColumnElement[bool] = column.like(f"%{pattern}%", escape="\\")
        return condition
    if term.kind == "range":
        low, high = term.values
        parts = []
        if low:
            parts.append(column >= _convert(column, low))
        if high:
            parts.append(column <= _convert(column, high))
        return and_(*parts)
    values = [_convert(column, value) for value in term.values]
    if term.kind == "any":
        return or_(*(column == value for value in values))
    if term.kind == "all":
        return and_(*(column == value for value in values))
    equal: ColumnElement[bool] = column == values[0]
    return equal


def apply_query(
    statement: Select[Any], terms: list[Term], columns: Mapping[str, Any]
) -> Select[Any]:
    """Add the conditions of `terms` for the keys in `columns`; other keys get 400."""
    for term in terms:
        column = columns.get(term.key)
        if column is None:
            allowed = ", ".join(sorted(columns))
            raise bad_request(
                f"unsupported query key {term.key!r}; use one of: {allowed}"
            )
        statement = statement.where(_condition(column, term))
    return statement


def apply_sort(
    statement: Select[Any], raw: str | None, columns: Mapping[str, Any], default: Any
) -> Select[Any]:
    """Order by the keys of `sort` (prefix `-` for descending), else by `default`."""
    if not raw:
        return statement.order_by(default)
    for item in raw.split(","):
        key = item.strip()
        descending = key.startswith("-")
        key = key.lstrip("-")
        column = columns.get(key)
        if column is None:
            allowed = ", ".join(sorted(columns))
            raise bad_request(f"unsupported sort key {key!r}; use one of: {allowed}")
        statement = statement.order_by(column.desc() if descending else column.asc())
    return statement
