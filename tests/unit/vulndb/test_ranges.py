"""Range and version-list evaluation of OSV `affected[]` entries."""

from __future__ import annotations

from typing import Any

import pytest

from seawall.vulndb.osv import AffectedPackage
from seawall.vulndb.ranges import entry_affects, fixes_above


def entry(
    ecosystem: str,
    events: list[dict[str, str]],
    *,
    range_type: str = "ECOSYSTEM",
    versions: list[str] | None = None,
    extra_ranges: list[dict[str, Any]] | None = None,
) -> AffectedPackage:
    ranges = [{"type": range_type, "events": events}, *(extra_ranges or [])]
    return AffectedPackage(ecosystem, "pkg", ranges, versions or [])


TWO_BRANCHES = [
    {"introduced": "1.0"},
    {"fixed": "1.5"},
    {"introduced": "2.0"},
    {"fixed": "2.5"},
]


@pytest.mark.parametrize(
    ("installed", "affected"),
    [
        ("0.9", False),
        ("1.0", True),
        ("1.4.9", True),
        ("1.5", False),
        ("1.7", False),
        ("2.0", True),
        ("2.4", True),
        ("2.5", False),
        ("3.0", False),
    ],
)
def test_two_introduced_fixed_pairs(installed: str, affected: bool) -> None:
    assert entry_affects(entry("PyPI", TWO_BRANCHES), installed) is affected


@pytest.mark.parametrize(
    ("installed", "affected"), [("1.0.0", True), ("1.2.0", True), ("1.2.1", False)]
)
def test_last_affected(installed: str, affected: bool) -> None:
    events = [{"introduced": "0"}, {"last_affected": "1.2.0"}]
    assert entry_affects(entry("npm", events), installed) is affected


def test_introduced_without_fix_affects_later_versions() -> None:
    events = [{"introduced": "4.0"}]
    assert entry_affects(entry("PyPI", events), "9.9") is True
    assert entry_affects(entry("PyPI", events), "3.9") is False


def test_limit_closes_range() -> None:
    events = [{"introduced": "0"}, {"limit": "2.0"}]
    assert entry_affects(entry("PyPI", events), "1.9") is True
    assert entry_affects(entry("PyPI", events), "2.0") is False


def test_introduced_and_fixed_at_same_version() -> None:
    events = [{"fixed": "1.0"}, {"introduced": "1.0"}]
    assert entry_affects(entry("PyPI", events), "1.0") is False


def test_unsorted_events_are_sorted() -> None:
    events = [
        {"fixed": "2.5"},
        {"introduced": "2.0"},
        {"fixed": "1.5"},
        {"introduced": "1.0"},
    ]
    assert entry_affects(entry("PyPI", events), "1.2") is True
    assert entry_affects(entry("PyPI", events), "1.7") is False


def test_debian_tilde_fix() -> None:
    events = [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]
    assert entry_affects(entry("Debian:12", events), "3.0.9-1") is True
    assert entry_affects(entry("Debian:12", events), "3.0.11-1~deb12u2") is False
    assert entry_affects(entry("Debian:12", events), "3.0.11-1") is False


def test_semver_range() -> None:
    events = [{"introduced": "1.0.0"}, {"fixed": "1.2.0"}]
    affected = entry("npm", events, range_type="SEMVER")
    assert entry_affects(affected, "1.0.0-beta") is False
    assert entry_affects(affected, "1.1.9") is True
    assert entry_affects(affected, "v1.1.9") is True


def test_npm_short_installed_version() -> None:
    events = [{"introduced": "0"}, {"fixed": "1.0.1"}]
    assert entry_affects(entry("npm", events), "1.0") is True


def test_git_ranges_ignored() -> None:
    git = {
        "type": "GIT",
        "repo": "https://example.test/r",
        "events": [{"introduced": "0"}],
    }
    affected = AffectedPackage("PyPI", "pkg", [git], [])
    assert entry_affects(affected, "1.0") is False


def test_versions_list_matches_without_range() -> None:
    affected = AffectedPackage("PyPI", "pkg", [], ["1.0", "3.2"])
    assert entry_affects(affected, "3.2") is True
    assert entry_affects(affected, "3.2.0") is True  # same PyPI version
    assert entry_affects(affected, "3.3") is False


def test_versions_list_or_range() -> None:
    affected = entry("PyPI", [{"introduced": "5.0"}], versions=["1.0"])
    assert entry_affects(affected, "1.0") is True
    assert entry_affects(affected, "5.1") is True


def test_unparseable_installed_version_no_match() -> None:
    events = [{"introduced": "0"}, {"fixed": "2.0"}]
    assert entry_affects(entry("PyPI", events), "not a version!") is False
    assert entry_affects(entry("Debian:12", events), "") is False


def test_unparseable_event_no_match() -> None:
    events = [{"introduced": "0"}, {"fixed": "garbage!!"}]
    assert entry_affects(entry("Debian:12", events), "1.0-1") is False


def test_unknown_ecosystem_uses_versions_only() -> None:
    affected = entry("NoSuchEcosystem", [{"introduced": "0"}], versions=["1.0"])
    assert entry_affects(affected, "1.0") is True
    assert entry_affects(affected, "2.0") is False


def test_fixes_above_installed() -> None:
    affected = entry("PyPI", TWO_BRANCHES)
    fixes = sorted(text for _, text in fixes_above(affected, "1.2"))
    assert fixes == ["1.5", "2.5"]
    assert [text for _, text in fixes_above(affected, "2.1")] == ["2.5"]
    assert fixes_above(affected, "3.0") == []
