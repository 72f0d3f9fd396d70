"""Rust crates from Cargo.lock files and from binaries built with cargo-auditable.

cargo-auditable stores the dependency tree as zlib-compressed JSON in the
ELF section `.dep-v0`: {"packages": [{"name", "version", "source", ...}]}.
Only crates whose source is crates.io are reported, since advisories name
crates.io packages. In Cargo.lock, those are the packages whose `source`
starts with "registry+" or "sparse+" for the crates.io index.
"""

from __future__ import annotations

import tomllib
import zlib

from seawall.scan.inventory.elf import ElfError, find_section
from seawall.scan.inventory.jsonfile import load_json_object
from seawall.scan.inventory.purl import cargo_purl
from seawall.scan.inventory.records import FileContext, FileResult
from seawall.scan.model import CRATES_IO, Package

AUDIT_SECTION = ".dep-v0"
_MAX_AUDIT_JSON_BYTES = 16 * 1024 * 1024
_CRATES_IO_SOURCES = (
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
)


def _crate(context: FileContext, name: str, version: str) -> Package:
    return context.package(
        name=name, version=version, ecosystem=CRATES_IO, purl=cargo_purl(name, version)
    )


def _inflate(compressed: bytes) -> bytes:
    inflater = zlib.decompressobj()
    data = inflater.decompress(compressed, _MAX_AUDIT_JSON_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError(f"audit data inflates past {_MAX_AUDIT_JSON_BYTES} bytes")
    return data


def read_rust_binary(data: bytes, context: FileContext) -> FileResult:
    """List the crates recorded by cargo-auditable; empty for other binaries."""
    try:
        section = find_section(data, AUDIT_SECTION)
    except ElfError as error:
        return FileResult(warnings=[f"ELF section table not readable: {error}"])
    if section is None:
        return FileResult()
    try:
        document = load_json_object(_inflate(section))
    except (zlib.error, ValueError) as error:
        return FileResult(warnings=[f"invalid {AUDIT_SECTION} audit data: {error}"])
    entries = document.get("packages")
    if not isinstance(entries, list):
        return FileResult(warnings=[f"{AUDIT_SECTION} audit data has no packages list"])
    result = FileResult()
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("source") != "crates.io":
            continue
        name, version = entry.get("name"), entry.get("version")
        if isinstance(name, str) and isinstance(version, str) and name and version:
            result.packages.append(_crate(context, name, version))
    return result


def read_cargo_lock(data: bytes, context: FileContext) -> FileResult:
    result = FileResult(is_lockfile=True)
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as error:
        result.warnings.append(f"invalid Cargo.lock: {error}")
        return result
    entries = document.get("package")
    if not isinstance(entries, list):
        return result
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        source = entry.get("source")
        if not isinstance(source, str) or not source.startswith(_CRATES_IO_SOURCES):
            continue
        name, version = entry.get("name"), entry.get("version")
        if isinstance(name, str) and isinstance(version, str) and name and version:
            result.packages.append(_crate(context, name, version))
    return result
