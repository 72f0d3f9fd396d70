"""npm packages from installed package.json files and package-lock.json.

An installed package is `node_modules/<name>/package.json` or
`node_modules/@scope/<name>/package.json`. Lockfiles of version 1 list
packages in a nested `dependencies` tree; versions 2 and 3 list them in a
`packages` map keyed by install path. Lockfile entries are kept only where
no installed package.json of the same name and version sits in the
lockfile's directory tree (see `is_lockfile`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from seawall.scan.inventory.jsonfile import load_json_object
from seawall.scan.inventory.purl import npm_purl
from seawall.scan.inventory.records import FileContext, FileResult
from seawall.scan.model import NPM

_MAX_TREE_DEPTH = 64


def is_installed_package_json(path: str) -> bool:
    parts = path.split("/")
    if len(parts) < 3 or parts[-1] != "package.json":
        return False
    if parts[-2] == "node_modules" or parts[-2].startswith("."):
        return False
    if parts[-3] == "node_modules" and not parts[-2].startswith("@"):
        return True
    return len(parts) >= 4 and parts[-4] == "node_modules" and parts[-3].startswith("@")


def is_package_lock(path: str) -> bool:
    parts = path.split("/")
    return parts[-1] == "package-lock.json" and "node_modules" not in parts


def _licence(document: dict[str, Any]) -> tuple[str, ...]:
    value = document.get("license")
    if isinstance(value, dict):
        value = value.get("type")
    return (value,) if isinstance(value, str) and value else ()


def read_package_json(data: bytes, context: FileContext) -> FileResult:
    try:
        document = load_json_object(data)
    except ValueError as error:
        return FileResult(warnings=[f"invalid package.json: {error}"])
    name, version = document.get("name"), document.get("version")
    if (
        not isinstance(name, str)
        or not isinstance(version, str)
        or not name
        or not version
    ):
        return FileResult(warnings=["package.json has no name or version; skipped"])
    package = context.package(
        name=name,
        version=version,
        ecosystem=NPM,
        purl=npm_purl(name, version),
        licenses=_licence(document),
    )
    return FileResult(packages=[package])


def _name_from_install_path(install_path: str) -> str:
    """Return the package name in "node_modules/a/node_modules/@s/b" ("@s/b")."""
    return install_path.rpartition("node_modules/")[2]


def _lock_v2_entries(
    packages: dict[str, Any],
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for install_path, entry in packages.items():
        if (
            not install_path
            or not isinstance(entry, dict)
            or "node_modules/" not in install_path
        ):
            continue
        if entry.get("link"):
            continue  # a symlink to a workspace folder, listed under its own key
        name = entry.get("name") or _name_from_install_path(install_path)
        version = entry.get("version")
        if isinstance(name, str) and isinstance(version, str) and version:
            yield name, version, entry


def _lock_v1_entries(
    dependencies: dict[str, Any], prefix: str, depth: int
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    if depth > _MAX_TREE_DEPTH:
        return
    for name, entry in dependencies.items():
        if not isinstance(entry, dict):
            continue
        install_path = f"{prefix}node_modules/{name}"
        version = entry.get("version")
        if isinstance(version, str) and version and not version.startswith("file:"):
            yield name, version, entry
        nested = entry.get("dependencies")
        if isinstance(nested, dict):
            yield from _lock_v1_entries(nested, install_path + "/", depth + 1)


def read_package_lock(data: bytes, context: FileContext) -> FileResult:
    result = FileResult(is_lockfile=True)
    try:
        document = load_json_object(data)
    except ValueError as error:
        result.warnings.append(f"invalid package-lock.json: {error}")
        return result
    packages = document.get("packages")
    dependencies = document.get("dependencies")
    if isinstance(packages, dict):
        entries = _lock_v2_entries(packages)
    elif isinstance(dependencies, dict):
        entries = _lock_v1_entries(dependencies, "", 0)
    else:
        result.warnings.append("package-lock.json has no packages or dependencies map")
        return result
    for name, version, entry in entries:
        result.packages.append(
            context.package(
                name=name,
                version=version,
                ecosystem=NPM,
                purl=npm_purl(name, version),
                licenses=_licence(entry),
            )
        )
    return result
