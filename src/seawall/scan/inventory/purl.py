"""Package URLs (purl) for every ecosystem the inventory reports."""

from __future__ import annotations

import re

from packageurl import PackageURL

_PYPI_SEPARATORS = re.compile(r"[-_.]+")


def normalize_pypi_name(name: str) -> str:
    """Normalise a Python project name as PEP 503 does."""
    return _PYPI_SEPARATORS.sub("-", name).lower()


def build_purl(
    purl_type: str,
    name: str,
    version: str,
    *,
    namespace: str | None = None,
    qualifiers: dict[str, str] | None = None,
) -> str:
    """Return the purl string, leaving out empty qualifiers."""
    kept = {key: value for key, value in (qualifiers or {}).items() if value}
    return PackageURL(
        type=purl_type,
        namespace=namespace or None,
        name=name,
        version=version or None,
        qualifiers=kept or None,
    ).to_string()


def split_last(path: str) -> tuple[str | None, str]:
    """Split "a/b/c" into ("a/b", "c"), the purl namespace and name."""
    namespace, _, name = path.rpartition("/")
    return (namespace or None, name)


def pypi_purl(name: str, version: str) -> str:
    return build_purl("pypi", normalize_pypi_name(name), version)


def npm_purl(name: str, version: str) -> str:
    namespace, short = split_last(name) if name.startswith("@") else (None, name)
    return build_purl("npm", short, version, namespace=namespace)


def golang_purl(module_path: str, version: str) -> str:
    namespace, name = split_last(module_path)
    return build_purl("golang", name, version, namespace=namespace)


def maven_purl(group_id: str, artifact_id: str, version: str) -> str:
    return build_purl("maven", artifact_id, version, namespace=group_id)


def gem_purl(name: str, version: str) -> str:
    return build_purl("gem", name, version)


def cargo_purl(name: str, version: str) -> str:
    return build_purl("cargo", name, version)


def composer_purl(name: str, version: str) -> str:
    namespace, short = split_last(name)
    return build_purl("composer", short, version, namespace=namespace)
