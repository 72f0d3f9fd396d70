"""Alpine packages from the apk database `lib/apk/db/installed`.

Each package is a block of one-letter fields separated by a blank line:
P name, V version, A architecture, L licence, o origin (the source package).
"""

from __future__ import annotations

from seawall.scan.inventory.records import DistroRecord, FileContext, FileResult

APK_DATABASE_PATH = "lib/apk/db/installed"


def _blocks(text: str) -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
            current = {}
            continue
        key, colon, value = line.partition(":")
        if colon and len(key) == 1 and key not in current:
            current[key] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def read_apk_database(data: bytes, context: FileContext) -> FileResult:
    result = FileResult()
    for number, block in enumerate(_blocks(data.decode("utf-8", "replace")), 1):
        name, version = block.get("P", ""), block.get("V", "")
        if not name or not version:
            result.warnings.append(f"entry {number} has no P: or V: field; skipped")
            continue
        licence = block.get("L", "")
        result.distro_packages.append(
            DistroRecord(
                kind="apk",
                name=name,
                version=version,
                source_name=block.get("o") or name,
                source_version=version,
                arch=block.get("A") or None,
                licenses=(licence,) if licence else (),
            )
        )
    return result
