"""Version ordering per OSV ecosystem, on top of the `univers` version classes.

`version_class` picks the ordering for an ecosystem name as OSV spells it
("Debian:12" uses Debian's). `parse_version` returns None for a version the
ecosystem's rules cannot read, so callers can treat it as "no match"
instead of failing.
"""

from __future__ import annotations

import structlog
from univers.versions import (
    AlpineLinuxVersion,
    ComposerVersion,
    DebianVersion,
    GolangVersion,
    MavenVersion,
    NugetVersion,
    PypiVersion,
    RpmVersion,
    RubygemsVersion,
    SemverVersion,
    Version,
)

logger = structlog.get_logger(__name__)

# OSV ecosystem names (the part before any ":release") and their ordering.
_ECOSYSTEM_CLASSES: dict[str, type[Version]] = {
    "Debian": DebianVersion,
    "Ubuntu": DebianVersion,
    "Alpine": AlpineLinuxVersion,
    "Wolfi": AlpineLinuxVersion,
    "Chainguard": AlpineLinuxVersion,
    "Red Hat": RpmVersion,
    "Rocky Linux": RpmVersion,
    "AlmaLinux": RpmVersion,
    "openSUSE": RpmVersion,
    "SUSE": RpmVersion,
    "Mageia": RpmVersion,
    "openEuler": RpmVersion,
    "Photon OS": RpmVersion,
    "Azure Linux": RpmVersion,
    "PyPI": PypiVersion,
    "npm": SemverVersion,
    "crates.io": SemverVersion,
    "Hex": SemverVersion,
    "Pub": SemverVersion,
    "Go": GolangVersion,
    "Maven": MavenVersion,
    "RubyGems": RubygemsVersion,
    "Packagist": ComposerVersion,
    "NuGet": NugetVersion,
}


def version_class(
    ecosystem: str, range_type: str = "ECOSYSTEM"
) -> type[Version] | None:
    """Return the version class for `ecosystem`, or None when its ordering is unknown.

    A SEMVER range is ordered by Semantic Versioning 2.0 whatever the
    ecosystem, as the OSV schema requires, except in Go, whose versions are
    SemVer with a leading "v" and `+incompatible` suffixes.
    """
    base = ecosystem.split(":", 1)[0]
    if range_type == "SEMVER":
        return GolangVersion if base == "Go" else SemverVersion
    return _ECOSYSTEM_CLASSES.get(base)


def parse_version(cls: type[Version], text: str) -> Version | None:
    """Parse `text` with `cls`, or log and return None when it is not a valid version."""
    candidate = text.strip()
    if cls is SemverVersion and candidate[:1] in {"v", "V"}:
        candidate = candidate[1:]
    try:
        return cls(candidate)
    # univers raises InvalidVersion for most bad input but lets ValueError,
    # IndexError and others escape from some parsers, and no bad version
    # string may stop a scan.
    except Exception as exc:
        logger.debug(
            "version not parsed", version=text, ordering=cls.__name__, error=str(exc)
        )
        return None
