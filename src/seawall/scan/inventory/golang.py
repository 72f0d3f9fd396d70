"""Go modules from the build information that Go embeds in its binaries.

Go 1.18 and later write a 32-byte header that starts with the magic
"\\xff Go buildinf:", then one byte with the pointer size and one flags
byte. Flag 0x2 means the toolchain version and the module information
follow the header inline, each as a uvarint length and that many bytes.
Older toolchains store two pointers instead, which need the binary's
address map to follow; they are reported and skipped.

The module information is framed by two 16-byte sentinels and contains
tab-separated lines: `path`, `mod` (the main module), `dep` (a dependency)
and `=>` (the replacement of the line above).
"""

from __future__ import annotations

from dataclasses import dataclass

from seawall.scan.inventory.purl import golang_purl
from seawall.scan.inventory.records import FileContext, FileResult
from seawall.scan.model import GO, Package

BUILDINFO_MAGIC = b"\xff Go buildinf:"
_HEADER_SIZE = 32
_FLAG_VERSION_INLINE = 0x2
_MODINFO_START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
_MODINFO_END = bytes.fromhex("f932433186182072008242104116d8f2")
_MAX_STRING_BYTES = 16 * 1024 * 1024
_MAX_CANDIDATES = 16


class BuildInfoError(ValueError):
    """The bytes after the magic are not a build information header."""


class OldBuildInfo(BuildInfoError):
    """Build information in the pointer layout of Go before 1.18."""


@dataclass(frozen=True, slots=True)
class BuildInfo:
    go_version: str  # "go1.21.3"
    modinfo: str


def _uvarint(data: bytes, offset: int) -> tuple[int, int]:
    """Decode an unsigned LEB128 varint; return the value and the next offset."""
    value = 0
    for shift in range(0, 64, 7):
        if offset >= len(data):
            raise BuildInfoError("varint runs past the end of the file")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
    raise BuildInfoError("varint longer than 64 bits")


def _length_prefixed(data: bytes, offset: int) -> tuple[bytes, int]:
    length, offset = _uvarint(data, offset)
    if length > _MAX_STRING_BYTES or offset + length > len(data):
        raise BuildInfoError(f"string of {length} bytes runs past the end of the file")
    return data[offset : offset + length], offset + length


def parse_buildinfo_at(data: bytes, offset: int) -> BuildInfo:
    """Parse the build information header that starts at `offset`."""
    header = data[offset : offset + _HEADER_SIZE]
    if len(header) < _HEADER_SIZE:
        raise BuildInfoError("header runs past the end of the file")
    pointer_size, flags = header[14], header[15]
    if pointer_size not in (4, 8):
        raise BuildInfoError(f"pointer size {pointer_size} is not 4 or 8")
    if not flags & _FLAG_VERSION_INLINE:
        raise OldBuildInfo("pointer-format build information (Go before 1.18)")
    version, position = _length_prefixed(data, offset + _HEADER_SIZE)
    modinfo, _ = _length_prefixed(data, position)
    framed = modinfo.startswith(_MODINFO_START) and modinfo.endswith(_MODINFO_END)
    if framed and len(modinfo) >= 33 and modinfo[-17] == ord("\n"):
        modinfo = modinfo[16:-16]
    return BuildInfo(
        go_version=version.decode("utf-8", "replace"),
        modinfo=modinfo.decode("utf-8", "replace"),
    )


def find_buildinfo(data: bytes) -> BuildInfo | None:
    """Find and parse the build information of a Go binary.

    The magic can also appear as a constant inside a binary (the Go
    toolchain's own `debug/buildinfo` package carries it), so each match is
    tried in turn. Raises `OldBuildInfo` when only the old layout is found.
    """
    offset = data.find(BUILDINFO_MAGIC)
    old_layout: OldBuildInfo | None = None
    for _ in range(_MAX_CANDIDATES):
        if offset < 0:
            break
        try:
            return parse_buildinfo_at(data, offset)
        except OldBuildInfo as error:
            old_layout = error
        except BuildInfoError:
            pass
        offset = data.find(BUILDINFO_MAGIC, offset + 1)
    if old_layout is not None:
        raise old_layout
    return None


def _strip_v(version: str) -> str:
    return (
        version[1:] if version.startswith("v") and version[1:2].isdigit() else version
    )


def _module_package(context: FileContext, path: str, version: str) -> Package:
    return context.package(
        name=path,
        version=_strip_v(version),
        ecosystem=GO,
        purl=golang_purl(path, version),
    )


def modules_from_modinfo(modinfo: str, context: FileContext) -> list[Package]:
    """List the main module (when versioned) and every dependency.

    A dependency replaced by another module is reported as the replacement,
    whose code is what the binary contains. A dependency replaced by a local
    directory has no version to match against advisories and is left out.
    """
    modules: list[tuple[str, str] | None] = []
    for line in modinfo.splitlines():
        fields = line.split("\t")
        if fields[0] in ("mod", "dep") and len(fields) >= 3:
            path, version = fields[1], fields[2]
            if fields[0] == "mod" and (not version or version == "(devel)"):
                modules.append(None)
            else:
                modules.append((path, version))
        elif fields[0] == "=>" and modules:
            # A local replacement has a path and no version.
            replaced = (
                (fields[1], fields[2]) if len(fields) >= 3 and fields[2] else None
            )
            modules[-1] = replaced
    return [
        _module_package(context, path, version)
        for path, version in filter(None, modules)
    ]


def read_go_binary(data: bytes, context: FileContext) -> FileResult:
    """List the modules of a Go binary; return an empty result for other binaries."""
    try:
        info = find_buildinfo(data)
    except OldBuildInfo as error:
        return FileResult(warnings=[f"{error} is not supported; modules not listed"])
    if info is None:
        return FileResult()
    packages = modules_from_modinfo(info.modinfo, context)
    if info.go_version.startswith("go"):
        toolchain = info.go_version.removeprefix("go").split()[0]
        packages.append(
            context.package(
                name="stdlib",
                version=toolchain,
                ecosystem=GO,
                purl=golang_purl("stdlib", toolchain),
            )
        )
    return FileResult(packages=packages)
