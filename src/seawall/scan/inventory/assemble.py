"""Turn the merged view of parsed files into the image's `Inventory`."""

from __future__ import annotations

from seawall.scan.inventory.distro import distro_package
from seawall.scan.inventory.osrelease import OS_RELEASE_PATHS
from seawall.scan.inventory.overlay import StoredFile
from seawall.scan.inventory.paths import resolve_link
from seawall.scan.inventory.walk import shown
from seawall.scan.model import Inventory, OperatingSystem, Package


def follow_links(
    path: str, files: dict[str, StoredFile], max_hops: int
) -> tuple[str | None, str]:
    """Follow symbolic links from `path` through the files the inventory read.

    Returns the final path and an empty reason, or None and the reason the
    chain ended: a target the inventory did not read, or more than
    `max_hops` links (which includes every loop).
    """
    current = path
    for _ in range(max_hops + 1):
        stored = files.get(current)
        if stored is None:
            return (
                None,
                f"its target {shown(current)!r} is not a file the scanner reads",
            )
        if stored.link_target is None:
            return current, ""
        current = resolve_link(current, stored.link_target)
    return None, f"more than {max_hops} symbolic links in a row (a loop?)"


def _operating_system(
    files: dict[str, StoredFile], max_hops: int
) -> OperatingSystem | None:
    for candidate in OS_RELEASE_PATHS:
        if candidate not in files:
            continue
        resolved, _ = follow_links(candidate, files, max_hops)
        stored = files.get(resolved) if resolved is not None else None
        if (
            stored is not None
            and stored.result is not None
            and stored.result.os is not None
        ):
            return stored.result.os
    return None


def _link_warnings(files: dict[str, StoredFile], max_hops: int) -> list[str]:
    warnings: list[str] = []
    for path, stored in files.items():
        if stored.link_target is None:
            continue
        resolved, reason = follow_links(path, files, max_hops)
        if resolved is None:
            warnings.append(
                f"layer {stored.layer_index} ({stored.layer_digest}): {shown(path)}: "
                f"symbolic link to {shown(stored.link_target)!r} is not followed, "
                f"because {reason}"
            )
    return warnings


def _drop_lockfile_duplicates(packages: list[tuple[Package, bool]]) -> list[Package]:
    """Drop lockfile entries that an installed record in the same tree repeats."""
    installed: dict[tuple[str, str, str], list[str]] = {}
    for package, from_lockfile in packages:
        if not from_lockfile:
            key = (package.ecosystem, package.name, package.version)
            installed.setdefault(key, []).append(package.location)
    kept: list[Package] = []
    for package, from_lockfile in packages:
        if from_lockfile:
            directory = package.location.rpartition("/")[0]
            prefix = f"{directory}/" if directory else ""
            locations = installed.get(
                (package.ecosystem, package.name, package.version), []
            )
            if any(location.startswith(prefix) for location in locations):
                continue
        kept.append(package)
    return kept


def build_inventory(
    manifest_digest: str,
    files: dict[str, StoredFile],
    warnings: list[str],
    max_hops: int,
) -> Inventory:
    operating_system = _operating_system(files, max_hops)
    collected: list[tuple[Package, bool]] = []
    for path, stored in files.items():
        result = stored.result
        if result is None:
            continue
        for package in result.packages:
            collected.append((package, result.is_lockfile))
        for record in result.distro_packages:
            package = distro_package(
                record,
                operating_system,
                layer_index=stored.layer_index,
                layer_digest=stored.layer_digest,
                location=path,
            )
            collected.append((package, False))
    packages = _drop_lockfile_duplicates(collected)
    packages.sort(
        key=lambda item: (item.ecosystem, item.name, item.version, item.location)
    )
    all_warnings = warnings + _link_warnings(files, max_hops)
    if operating_system is None and any(
        stored.result and stored.result.distro_packages for stored in files.values()
    ):
        all_warnings.append(
            "no os-release file found; distribution packages are listed without a release"
        )
    return Inventory(
        manifest_digest=manifest_digest,
        os=operating_system,
        packages=packages,
        warnings=all_warnings,
    )
