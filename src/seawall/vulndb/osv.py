"""Parsing and validation of one OSV record (https://ossf.github.io/osv-schema/).

Only the fields the importer and the matcher use are checked. A record
that breaks those checks raises `InvalidRecord` with a message that names
the field, so the importer can skip it and report the reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from seawall.scan.model import MAVEN, PYPI

# Records larger than this are skipped as malformed. NOTE: an estimate,
# far above the records seen so far (tens of kilobytes).
MAX_RECORD_BYTES = 4 * 1024 * 1024
# Column sizes of `Advisory.id`, `AdvisoryPackage.ecosystem` and `.name`.
MAX_ID_LENGTH = 255
MAX_ECOSYSTEM_LENGTH = 128
MAX_NAME_LENGTH = 512
# Characters of an invalid value quoted in a skip reason.
_MAX_SHOWN_VALUE = 80
# A JSON escape of NUL that is not itself an escaped backslash.
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class InvalidRecord(ValueError):
    """An OSV record that cannot be imported. The message names the field that failed."""


@dataclass(frozen=True, slots=True)
class AffectedPackage:
    """One `affected[]` entry, with the package name normalised for lookup."""

    ecosystem: str
    name: str
    ranges: list[dict[str, Any]]
    versions: list[str]
    cvss_vectors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OsvRecord:
    """The parts of an OSV record that the advisory database uses."""

    id: str
    modified: datetime | None
    published: datetime | None
    withdrawn: bool
    summary: str
    details: str
    aliases: list[str]
    related: list[str]
    affected: list[AffectedPackage]
    cvss_vectors: list[str]
    severity_word: str | None
    cwe_ids: list[str]
    references: list[str]
    document: dict[str, Any]


def normalise_name(ecosystem: str, name: str) -> str:
    """Return the package name in the form advisories are looked up by.

    PyPI names follow PEP 503 (lower case, runs of `-`, `_` and `.` become
    one `-`). Maven names are `group:artifact`, as OSV writes them. Every
    other ecosystem keeps the name as given, because their names are
    case-sensitive.
    """
    base = ecosystem.split(":", 1)[0]
    if base == PYPI:
        return re.sub(r"[-_.]+", "-", name).lower()
    if base == MAVEN:
        return name.strip()
    return name


def parse_record(raw: bytes) -> OsvRecord:
    """Decode and validate one OSV record, raising `InvalidRecord` when it cannot be used."""
    if len(raw) > MAX_RECORD_BYTES:
        raise InvalidRecord(
            f"record is {len(raw)} bytes, more than the limit of {MAX_RECORD_BYTES}"
        )
    if _NUL_ESCAPE.search(raw):
        # PostgreSQL text columns cannot store NUL, and no real record has one.
        raise InvalidRecord("record contains a NUL character (\\u0000)")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRecord(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidRecord("not valid JSON: nested too deeply") from None
    return parse_document(document)


def parse_document(document: object) -> OsvRecord:
    """Validate an already decoded OSV record."""
    if not isinstance(document, dict):
        raise InvalidRecord("record is not a JSON object")
    record_id = document.get("id")
    if not isinstance(record_id, str) or not record_id.strip():
        raise InvalidRecord("missing or empty 'id'")
    if len(record_id) > MAX_ID_LENGTH:
        raise InvalidRecord(f"'id' is longer than {MAX_ID_LENGTH} characters")
    severity = _list_of_objects(document, "severity")
    database_specific = document.get("database_specific")
    severity_word = None
    cwe_ids: list[str] = []
    if isinstance(database_specific, dict):
        word = database_specific.get("severity")
        severity_word = word if isinstance(word, str) else None
        cwes = database_specific.get("cwe_ids")
        if isinstance(cwes, list):
            cwe_ids = [cwe for cwe in cwes if isinstance(cwe, str)]
    return OsvRecord(
        id=record_id,
        modified=_timestamp(document, "modified"),
        published=_timestamp(document, "published"),
        withdrawn=_timestamp(document, "withdrawn") is not None,
        summary=_string(document, "summary"),
        details=_string(document, "details"),
        aliases=_list_of_strings(document, "aliases"),
        related=_list_of_strings(document, "related"),
        affected=[
            _affected(entry, index)
            for index, entry in enumerate(_list_of_objects(document, "affected"))
        ],
        cvss_vectors=_cvss_v3_vectors(severity, "severity"),
        severity_word=severity_word,
        cwe_ids=cwe_ids,
        references=_reference_urls(document),
        document=document,
    )


def _affected(entry: dict[str, Any], index: int) -> AffectedPackage:
    where = f"affected[{index}]"
    package = entry.get("package")
    if not isinstance(package, dict):
        raise InvalidRecord(f"'{where}.package' is missing or not an object")
    ecosystem = package.get("ecosystem")
    name = package.get("name")
    if not isinstance(ecosystem, str) or not ecosystem:
        raise InvalidRecord(f"'{where}.package.ecosystem' is missing or not a string")
    if not isinstance(name, str) or not name:
        raise InvalidRecord(f"'{where}.package.name' is missing or not a string")
    if len(ecosystem) > MAX_ECOSYSTEM_LENGTH or len(name) > MAX_NAME_LENGTH:
        raise InvalidRecord(f"'{where}.package' has an ecosystem or name too long")
    ranges = _list_of_objects(entry, "ranges", where)
    for position, version_range in enumerate(ranges):
        _check_range(version_range, f"{where}.ranges[{position}]")
    return AffectedPackage(
        ecosystem=ecosystem,
        name=normalise_name(ecosystem, name),
        ranges=ranges,
        versions=_list_of_strings(entry, "versions", where),
        cvss_vectors=_cvss_v3_vectors(
            _list_of_objects(entry, "severity", where), f"{where}.severity"
        ),
    )


def _check_range(version_range: dict[str, Any], where: str) -> None:
    if not isinstance(version_range.get("type"), str):
        raise InvalidRecord(f"'{where}.type' is missing or not a string")
    events = version_range.get("events")
    if not isinstance(events, list):
        raise InvalidRecord(f"'{where}.events' is missing or not a list")
    for position, event in enumerate(events):
        if not isinstance(event, dict) or len(event) != 1:
            raise InvalidRecord(f"'{where}.events[{position}]' must have one key")
        ((kind, value),) = event.items()
        if kind not in {"introduced", "fixed", "last_affected", "limit"}:
            raise InvalidRecord(
                f"'{where}.events[{position}]' has unknown key {kind!r}"
            )
        if not isinstance(value, str) or not value:
            raise InvalidRecord(f"'{where}.events[{position}].{kind}' is not a string")


def _cvss_v3_vectors(entries: list[dict[str, Any]], where: str) -> list[str]:
    vectors = []
    for position, entry in enumerate(entries):
        score = entry.get("score")
        if not isinstance(score, str):
            raise InvalidRecord(f"'{where}[{position}].score' is not a string")
        if entry.get("type") == "CVSS_V3":
            vectors.append(score)
    return vectors


def _reference_urls(document: dict[str, Any]) -> list[str]:
    urls = []
    for entry in _list_of_objects(document, "references"):
        url = entry.get("url")
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            urls.append(url)
    return urls


def _string(document: dict[str, Any], key: str) -> str:
    value = document.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRecord(f"'{key}' is not a string")
    return value


def _list_of_strings(
    document: dict[str, Any], key: str, where: str | None = None
) -> list[str]:
    value = document.get(key)
    if value is None:
        return []
    name = f"{where}.{key}" if where else key
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidRecord(f"'{name}' is not a list of strings")
    return value


def _list_of_objects(
    document: dict[str, Any], key: str, where: str | None = None
) -> list[dict[str, Any]]:
    value = document.get(key)
    if value is None:
        return []
    name = f"{where}.{key}" if where else key
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise InvalidRecord(f"'{name}' is not a list of objects")
    return value


def _timestamp(document: dict[str, Any], key: str) -> datetime | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRecord(f"'{key}' is not a string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        # A time at either end of the calendar, such as year 1 at +01:00,
        # overflows when moved to UTC.
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidRecord(
            f"'{key}' is not an RFC 3339 timestamp: {value[:_MAX_SHOWN_VALUE]!r}"
        ) from None
