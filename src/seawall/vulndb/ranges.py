"""Evaluation of OSV `affected[]` entries against one installed version.

ECOSYSTEM ranges use the ecosystem's own ordering and SEMVER ranges use
Semantic Versioning (see `versions.version_class`). GIT ranges name
commits, which an installed package does not have, so they are ignored.
A version that cannot be parsed, or a comparison that fails inside
`univers`, makes its range count as "not affected", with a log line.
"""

from __future__ import annotations

import functools
from typing import Any

import structlog
from univers.versions import Version

from seawall.vulndb.osv import AffectedPackage
from seawall.vulndb.versions import parse_version, version_class

logger = structlog.get_logger(__name__)

_EVALUATED_TYPES = frozenset({"ECOSYSTEM", "SEMVER"})
# Events at the same version are applied "introduced" first, so that
# `introduced: X, fixed: X` affects nothing.
_EVENT_ORDER = {"introduced": 0, "last_affected": 1, "fixed": 1, "limit": 1}


_CACHE_SIZE = 65536
_parsed: dict[tuple[type[Version], str], Version | None] = {}


def cached_version(cls: type[Version], text: str) -> Version | None:
    """Parse `text` with `cls`, remembering recent results (the same few repeat a lot)."""
    key = (cls, text)
    if key in _parsed:
        return _parsed[key]
    if len(_parsed) >= _CACHE_SIZE:
        _parsed.clear()
    version = _parsed[key] = parse_version(cls, text)
    return version


def entry_affects(entry: AffectedPackage, installed: str) -> bool:
    """Tell whether `installed` is in the entry's `versions` list or in one of its ranges."""
    if installed in entry.versions or _listed(entry, installed):
        return True
    return any(
        _range_affects(entry.ecosystem, version_range, installed)
        for version_range in entry.ranges
        if version_range.get("type") in _EVALUATED_TYPES
    )


def fixes_above(entry: AffectedPackage, installed: str) -> list[tuple[Version, str]]:
    """Return every `fixed` event of the entry's ranges that is above `installed`.

    Versions are compared with the ecosystem's ordering, so fixes from
    SEMVER and ECOSYSTEM ranges can be ranked together.
    """
    cls = version_class(entry.ecosystem)
    if cls is None:
        return []
    current = cached_version(cls, installed)
    if current is None:
        return []
    fixes = []
    for version_range in entry.ranges:
        if version_range.get("type") not in _EVALUATED_TYPES:
            continue
        for event in version_range.get("events", []):
            text = event.get("fixed")
            fixed = cached_version(cls, text) if text else None
            if fixed is not None and text is not None and _greater(fixed, current):
                fixes.append((fixed, text))
    return fixes


def _listed(entry: AffectedPackage, installed: str) -> bool:
    # The `versions` list is compared by parsed value as well, so "3.2" and
    # "3.2.0" are the same PyPI version.
    cls = version_class(entry.ecosystem)
    if cls is None or not entry.versions:
        return False
    current = cached_version(cls, installed)
    if current is None:
        return False
    return any(cached_version(cls, listed) == current for listed in entry.versions)


def _range_affects(
    ecosystem: str, version_range: dict[str, Any], installed: str
) -> bool:
    range_type = str(version_range["type"])
    cls = version_class(ecosystem, range_type)
    if cls is None:
        logger.debug("no version ordering for ecosystem", ecosystem=ecosystem)
        return False
    current = cached_version(cls, installed)
    if current is None:
        logger.warning(
            "installed version not parsed",
            version=installed,
            ecosystem=ecosystem,
            ordering=cls.__name__,
        )
        return False
    try:
        events = _parsed_events(cls, version_range["events"])
        return events is not None and _walk(events, current)
    # univers compares some malformed versions by raising (TypeError on
    # mixed parts), and one bad record must not stop a scan.
    except Exception as exc:
        logger.warning(
            "version comparison failed",
            version=installed,
            ecosystem=ecosystem,
            error=str(exc),
        )
        return False


def _parsed_events(
    cls: type[Version], events: list[dict[str, str]]
) -> list[tuple[str, Version | None]] | None:
    parsed: list[tuple[str, Version | None]] = []
    for event in events:
        ((kind, text),) = event.items()
        if kind == "introduced" and text == "0":
            parsed.append((kind, None))
            continue
        version = cached_version(cls, text)
        if version is None:
            logger.warning(
                "range event not parsed",
                event=kind,
                version=text,
                ordering=cls.__name__,
            )
            return None
        parsed.append((kind, version))
    return sorted(parsed, key=functools.cmp_to_key(_compare_events))


def _compare_events(
    left: tuple[str, Version | None], right: tuple[str, Version | None]
) -> int:
    left_version, right_version = left[1], right[1]
    if left_version != right_version:
        if left_version is None:
            return -1
        if right_version is None:
            return 1
        return -1 if left_version < right_version else 1
    return _EVENT_ORDER[left[0]] - _EVENT_ORDER[right[0]]


def _walk(events: list[tuple[str, Version | None]], current: Version) -> bool:
    # With the events sorted, the last event that `current` has reached
    # decides: an introduction opens a range, a fix or limit closes it.
    affected = False
    for kind, version in events:
        if kind == "introduced":
            if version is None or current >= version:
                affected = True
        elif kind == "last_affected":
            if version is not None and current > version:
                affected = False
        elif version is not None and current >= version:
            affected = False
    return affected


def _greater(left: Version, right: Version) -> bool:
    try:
        return bool(left > right)
    except Exception:  # univers may raise on mixed parts, as in `_range_affects`
        return False
