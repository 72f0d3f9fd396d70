"""The values that pass between the inventory reader, the advisory matcher,
the report builders and the SBOM writers.

Everything here is plain data: no database, no HTTP. Inventories and
findings are stored as JSON (`to_json`/`from_json`) so a report can be
rebuilt from a stored inventory when the advisory database changes, without
reading the image layers again.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any


def utc_text(moment: datetime) -> str:
    """Format a time as ISO 8601 UTC ending in `Z`, as Harbor writes times."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Severity(enum.IntEnum):
    """Harbor's severity scale, with Harbor's codes (None and Unknown share 0)."""

    UNKNOWN = 0
    NEGLIGIBLE = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @property
    def label(self) -> str:
        """The title-case word Harbor's API and reports use."""
        return self.name.title()

    @classmethod
    def parse(cls, word: str | None) -> Severity:
        """Read a severity word; MODERATE is MEDIUM, anything unknown is UNKNOWN."""
        if not word:
            return cls.UNKNOWN
        text = word.strip().upper()
        if text == "MODERATE":
            return cls.MEDIUM
        if text == "NONE":
            return cls.UNKNOWN
        try:
            return cls[text]
        except KeyError:
            return cls.UNKNOWN


# Ecosystem names as OSV spells them.
DEBIAN = "Debian"
UBUNTU = "Ubuntu"
ALPINE = "Alpine"
PYPI = "PyPI"
NPM = "npm"
GO = "Go"
MAVEN = "Maven"
RUBYGEMS = "RubyGems"
CRATES_IO = "crates.io"
PACKAGIST = "Packagist"
# RPM-based distributions use their own OSV names (for example "Red Hat",
# "Rocky Linux", "AlmaLinux", "openSUSE", "SUSE"); the reader uses the name
# that matches /etc/os-release.


@dataclass(frozen=True, slots=True)
class OperatingSystem:
    """The distribution an image is built on, from /etc/os-release."""

    id: str  # "debian", "ubuntu", "alpine", "rhel", ...
    version_id: str  # "12", "22.04", "3.19.1", ...
    pretty_name: str = ""


@dataclass(frozen=True, slots=True)
class Package:
    """One installed package found in an image.

    `ecosystem` is the OSV ecosystem without release ("Debian", "PyPI");
    `ecosystem_release` adds the release where OSV wants one ("Debian:12",
    "Alpine:v3.19"), and is the key advisories are matched on. `source_name`
    is the source package for distribution packages (glibc for libc6), since
    distribution advisories name source packages.
    """

    name: str
    version: str
    ecosystem: str
    ecosystem_release: str
    purl: str
    source_name: str | None = None
    source_version: str | None = None
    layer_index: int = 0
    layer_digest: str = ""
    location: str = ""  # path inside the image, "a.jar!META-INF/..." for nested
    licenses: tuple[str, ...] = ()


@dataclass(slots=True)
class Inventory:
    """Every package of one image manifest, and what could not be read."""

    manifest_digest: str
    os: OperatingSystem | None = None
    packages: list[Package] = field(default_factory=list)
    # Human-readable notes about skipped input: a corrupt layer, a tar entry
    # that escapes the root, malformed metadata. Never fatal.
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "manifest_digest": self.manifest_digest,
            "os": asdict(self.os) if self.os else None,
            "packages": [asdict(p) for p in self.packages],
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Inventory:
        os_data = data.get("os")
        return cls(
            manifest_digest=data["manifest_digest"],
            os=OperatingSystem(**os_data) if os_data else None,
            packages=[
                Package(**{**p, "licenses": tuple(p.get("licenses", ()))})
                for p in data.get("packages", [])
            ],
            warnings=list(data.get("warnings", [])),
        )


@dataclass(frozen=True, slots=True)
class Cvss:
    score: float
    vector: str
    version: str  # "3.0", "3.1"


@dataclass(slots=True)
class Finding:
    """One vulnerability of one installed package.

    Records that describe the same vulnerability (linked by id or alias,
    transitively) form one finding. `id` is the preferred identifier: the
    CVE when the group has one, otherwise the first record's id. `ids` contains
    every id and alias of the group, so an allowlist entry may name any.
    """

    id: str
    ids: list[str]
    package: str
    version: str
    ecosystem: str
    purl: str
    severity: Severity
    fix_version: str | None = None
    summary: str = ""
    description: str = ""
    links: list[str] = field(default_factory=list)
    cvss: Cvss | None = None
    cwe_ids: list[str] = field(default_factory=list)
    # Each matching or grouped record: {"id", "source", "severity", "score"}.
    records: list[dict[str, Any]] = field(default_factory=list)
    layer_digest: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.name
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        values = dict(data)
        values["severity"] = Severity[values["severity"]]
        cvss = values.get("cvss")
        values["cvss"] = Cvss(**cvss) if cvss else None
        return cls(**values)
