"""Debian and Ubuntu packages from the dpkg database.

`var/lib/dpkg/status` lists every package dpkg records, and only stanzas whose
Status is "install ok installed" are installed. Distroless images have no
status file but one file per package under `var/lib/dpkg/status.d/`,
without a Status field, and every stanza there is installed.
"""

from __future__ import annotations

import re

from seawall.scan.inventory.records import DistroRecord, FileContext, FileResult

STATUS_PATH = "var/lib/dpkg/status"
STATUS_DIR = "var/lib/dpkg/status.d/"

_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)]*)\))?\s*$")
_MAX_STANZA_FIELDS = 1000


def is_dpkg_database(path: str) -> bool:
    if path == STATUS_PATH:
        return True
    if not path.startswith(STATUS_DIR):
        return False
    name = path[len(STATUS_DIR) :]
    return "/" not in name and bool(name) and not name.endswith(".md5sums")


def iter_stanzas(text: str) -> list[dict[str, str]]:
    """Split RFC 822-style control data into stanzas of field to value.

    Continuation lines (starting with a space or tab) extend the previous
    field. Lines without a colon outside a continuation are ignored.
    """
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last_key: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
            current, last_key = {}, None
            continue
        if line[0] in " \t":
            if last_key is not None:
                current[last_key] += "\n" + line.strip()
            continue
        key, colon, value = line.partition(":")
        if not colon or len(current) >= _MAX_STANZA_FIELDS:
            continue
        last_key = key.strip()
        current[last_key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def _source_of(stanza: dict[str, str], name: str, version: str) -> tuple[str, str]:
    """Return the source package name and version of a binary package.

    "Source: glibc (2.36-9)" names a source whose version differs from the
    binary's. Without a Source field, the source has the binary's name.
    """
    match = _SOURCE.match(stanza.get("Source", "").strip())
    if match is None:
        return name, version
    return match["name"], match["version"] or version


def read_dpkg_database(data: bytes, context: FileContext) -> FileResult:
    result = FileResult()
    needs_status = context.path == STATUS_PATH
    stanzas = iter_stanzas(data.decode("utf-8", "replace"))
    if data.strip() and not any("Package" in stanza for stanza in stanzas):
        result.warnings.append("no stanza with a Package field; not a dpkg database")
    for number, stanza in enumerate(stanzas, 1):
        name = stanza.get("Package", "").strip()
        version = stanza.get("Version", "").strip()
        status = stanza.get("Status")
        is_installed = (status or "").split() == ["install", "ok", "installed"]
        if (needs_status or status is not None) and not is_installed:
            continue
        if not name or not version:
            result.warnings.append(
                f"stanza {number} has no Package or Version field; skipped"
            )
            continue
        source_name, source_version = _source_of(stanza, name, version)
        result.distro_packages.append(
            DistroRecord(
                kind="deb",
                name=name,
                version=version,
                source_name=source_name,
                source_version=source_version,
                arch=stanza.get("Architecture", "").strip() or None,
            )
        )
    return result
