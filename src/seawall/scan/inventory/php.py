"""PHP packages from composer.lock and vendor/composer/installed.json.

composer.lock lists `packages` and `packages-dev`. installed.json is a plain
list in Composer 1 and `{"packages": [...]}` in Composer 2. Versions are
reported without a leading "v" ("v1.2.3" becomes "1.2.3"), the form
advisories use.
"""

from __future__ import annotations

from typing import Any

from seawall.scan.inventory.jsonfile import load_json
from seawall.scan.inventory.purl import composer_purl
from seawall.scan.inventory.records import FileContext, FileResult
from seawall.scan.model import PACKAGIST


def is_composer_lock(path: str) -> bool:
    return path.rpartition("/")[2] == "composer.lock"


def is_composer_installed(path: str) -> bool:
    return path == "vendor/composer/installed.json" or path.endswith(
        "/vendor/composer/installed.json"
    )


def _strip_v(version: str) -> str:
    return (
        version[1:] if version[:1] in ("v", "V") and version[1:2].isdigit() else version
    )


def _add_entries(entries: Any, context: FileContext, result: FileResult) -> None:
    if not isinstance(entries, list):
        return
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        name, version = entry.get("name"), entry.get("version")
        if (
            not isinstance(name, str)
            or not isinstance(version, str)
            or not name
            or not version
        ):
            result.warnings.append("package entry without name or version; skipped")
            continue
        licence = entry.get("license")
        licenses = (
            tuple(item for item in licence if isinstance(item, str))
            if isinstance(licence, list)
            else ()
        )
        version = _strip_v(version)
        result.packages.append(
            context.package(
                name=name,
                version=version,
                ecosystem=PACKAGIST,
                purl=composer_purl(name, version),
                licenses=licenses,
            )
        )


def read_composer_lock(data: bytes, context: FileContext) -> FileResult:
    result = FileResult(is_lockfile=True)
    try:
        document = load_json(data)
    except ValueError as error:
        result.warnings.append(f"invalid composer.lock: {error}")
        return result
    if not isinstance(document, dict):
        result.warnings.append(
            "invalid composer.lock: the top level is not a JSON object"
        )
        return result
    _add_entries(document.get("packages"), context, result)
    _add_entries(document.get("packages-dev"), context, result)
    return result


def read_composer_installed(data: bytes, context: FileContext) -> FileResult:
    result = FileResult()
    try:
        document = load_json(data)
    except ValueError as error:
        result.warnings.append(f"invalid installed.json: {error}")
        return result
    if isinstance(document, dict):
        document = document.get("packages")
    if not isinstance(document, list):
        result.warnings.append("installed.json has no packages list")
        return result
    _add_entries(document, context, result)
    return result
