"""Which files of an image the inventory reads, and the parser for each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from seawall.scan.inventory import (
    apk,
    dpkg,
    golang,
    java,
    npm,
    osrelease,
    php,
    python,
    rpm,
    ruby,
    rust,
)
from seawall.scan.inventory.elf import ELF_MAGIC
from seawall.scan.inventory.limits import Limits
from seawall.scan.inventory.records import FileContext, FileResult

Parser = Callable[[bytes, FileContext], FileResult]

# Executable formats whose build information is searched: ELF, Mach-O (32-
# and 64-bit, both byte orders, and universal) and PE.
_EXECUTABLE_MAGICS = (
    ELF_MAGIC,
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"MZ",
)
EXECUTABLE_MAGIC_BYTES = 4
MIN_EXECUTABLE_BYTES = 64


@dataclass(frozen=True, slots=True)
class Handler:
    """How to read one kind of interesting file."""

    kind: str
    parse: Parser
    max_bytes: int
    reads_data: bool = True


def handler_for(path: str, limits: Limits) -> Handler | None:
    """Return the handler of a path, or None when the path is not read."""
    metadata = limits.max_metadata_bytes
    name = path.rpartition("/")[2]
    if path in osrelease.OS_RELEASE_PATHS:
        return Handler("os-release", osrelease.read_os_release, metadata)
    if dpkg.is_dpkg_database(path):
        return Handler("dpkg", dpkg.read_dpkg_database, metadata)
    if path == apk.APK_DATABASE_PATH:
        return Handler("apk", apk.read_apk_database, metadata)
    if path in rpm.RPM_SQLITE_PATHS:
        return Handler("rpm", rpm.read_rpm_database, metadata)
    if path in rpm.RPM_UNSUPPORTED_PATHS:
        return Handler("rpm", rpm.report_unsupported_rpm_database, 0, reads_data=False)
    if python.is_python_metadata(path):
        return Handler("python", python.read_python_metadata, metadata)
    if npm.is_installed_package_json(path):
        return Handler("npm", npm.read_package_json, metadata)
    if npm.is_package_lock(path):
        return Handler("npm-lock", npm.read_package_lock, metadata)
    if java.is_java_archive(path):
        reader = partial(java.read_java_archive, limits=limits)
        return Handler("java", reader, limits.max_binary_bytes)
    if ruby.is_gemspec(path):
        return Handler("gem", ruby.read_gemspec, metadata)
    if name == "Cargo.lock":
        return Handler("cargo-lock", rust.read_cargo_lock, metadata)
    if php.is_composer_lock(path):
        return Handler("composer-lock", php.read_composer_lock, metadata)
    if php.is_composer_installed(path):
        return Handler("composer-installed", php.read_composer_installed, metadata)
    return None


def is_executable_magic(head: bytes) -> bool:
    return head.startswith(_EXECUTABLE_MAGICS)


def read_binary(data: bytes, context: FileContext) -> FileResult:
    """List Go modules and cargo-auditable crates recorded in an executable."""
    result = golang.read_go_binary(data, context)
    if data.startswith(ELF_MAGIC) and not result.packages:
        rust_result = rust.read_rust_binary(data, context)
        result.packages.extend(rust_result.packages)
        result.warnings.extend(rust_result.warnings)
    return result
