"""Maven artifacts inside Java archives (jar, war, ear), nested ones included.

Maven writes `META-INF/maven/<groupId>/<artifactId>/pom.properties` into
every artifact it builds, and shaded or fat archives keep the files of what
they bundle, so each pom.properties is one package named
"groupId:artifactId". An archive without any pom.properties of its own falls
back to the Implementation-Title and Implementation-Version of its
`META-INF/MANIFEST.MF`; the name is "<Implementation-Vendor-Id>:<title>"
when the manifest has a vendor id, and the bare title otherwise, so it may
not match a Maven coordinate.

Archives are read from memory. Every member read is capped, and so are the
nesting depth and the uncompressed bytes read across one archive tree,
because a small zip can inflate without bound.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass

from seawall.scan.inventory.limits import Limits
from seawall.scan.inventory.purl import maven_purl
from seawall.scan.inventory.records import FileContext, FileResult
from seawall.scan.model import MAVEN
from seawall.scan.zip_directory import central_directory_entries

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear")
_MAX_TEXT_MEMBER_BYTES = 1024 * 1024
# Errors `zipfile` raises on damaged members, including ValueError for a
# local header offset that points before the start of the file.
_MEMBER_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,
    ValueError,
)


def is_java_archive(path: str) -> bool:
    return path.lower().endswith(ARCHIVE_SUFFIXES)


def parse_properties(text: str) -> dict[str, str]:
    """Read `key=value` and `key: value` lines of a Java properties file."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        cut = min((line.find(sep) for sep in "=:" if sep in line), default=-1)
        if cut < 0:
            continue
        values[line[:cut].strip()] = line[cut + 1 :].strip()
    return values


def parse_manifest(text: str) -> dict[str, str]:
    """Read the main section of a jar manifest, joining continuation lines."""
    values: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line:
            break  # the main section ends at the first blank line
        if line.startswith(" ") and last is not None:
            values[last] += line[1:]
            continue
        key, colon, value = line.partition(":")
        if colon:
            last = key.strip()
            values[last] = value.strip()
    return values


@dataclass(slots=True)
class _Walk:
    """The state shared by one archive tree: limits, budget and output."""

    context: FileContext
    limits: Limits
    result: FileResult
    bytes_left: int

    def read_member(
        self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, label: str
    ) -> bytes | None:
        """Read one member, or warn and return None when a cap stops it.

        `zipfile` never returns more than a member's declared size (it checks
        the CRC at that point), so the declared size is checked against the
        cap, and the read stops one byte past the tree's remaining budget.
        """
        warnings = self.result.warnings
        if info.file_size > cap:
            warnings.append(
                f"{label}: {info.file_size} bytes pass the cap of {cap}; skipped"
            )
            return None
        budget = self.limits.max_archive_read_bytes
        try:
            with archive.open(info) as member:
                data = member.read(max(self.bytes_left, 0) + 1)
        except _MEMBER_ERRORS as error:
            warnings.append(f"{label}: unreadable archive member: {error}")
            return None
        self.bytes_left -= len(data)
        if self.bytes_left < 0:
            warnings.append(
                f"{label}: the archive's read budget of {budget} bytes is spent; skipped"
            )
            return None
        return data


def _pom_package(walk: _Walk, data: bytes, location: str) -> None:
    values = parse_properties(data.decode("utf-8", "replace"))
    group, artifact, version = (
        values.get(key, "") for key in ("groupId", "artifactId", "version")
    )
    if not group or not artifact or not version:
        walk.result.warnings.append(
            f"{location}: pom.properties lacks groupId, artifactId or version; skipped"
        )
        return
    walk.result.packages.append(
        walk.context.package(
            name=f"{group}:{artifact}",
            version=version,
            ecosystem=MAVEN,
            purl=maven_purl(group, artifact, version),
            location=location,
        )
    )


def _manifest_package(walk: _Walk, data: bytes, location: str) -> None:
    values = parse_manifest(data.decode("utf-8", "replace"))
    title = values.get("Implementation-Title", "")
    version = values.get("Implementation-Version", "")
    if not title or not version:
        return
    vendor = values.get("Implementation-Vendor-Id", "")
    name = f"{vendor}:{title}" if vendor else title
    walk.result.packages.append(
        walk.context.package(
            name=name,
            version=version,
            ecosystem=MAVEN,
            purl=maven_purl(vendor or "", title, version),
            location=location,
        )
    )


def _is_pom_properties(name: str) -> bool:
    return name.startswith("META-INF/maven/") and name.endswith("/pom.properties")


def _walk_archive(walk: _Walk, data: bytes, label: str, depth: int) -> None:
    cap = walk.limits.max_archive_members
    if (entries := central_directory_entries(data)) > cap:
        walk.result.warnings.append(
            f"{label}: about {entries} entries pass the cap of {cap}; not read"
        )
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        walk.result.warnings.append(f"{label}: not a readable zip archive: {error}")
        return
    with archive:
        members = archive.infolist()
        if len(members) > walk.limits.max_archive_members:
            walk.result.warnings.append(
                f"{label}: {len(members)} entries pass the cap of "
                f"{walk.limits.max_archive_members}; the rest are skipped"
            )
            members = members[: walk.limits.max_archive_members]
        found_pom = False
        manifest: zipfile.ZipInfo | None = None
        for info in members:
            name = info.filename
            location = f"{label}!{name}"
            if info.is_dir():
                continue
            if _is_pom_properties(name):
                text = walk.read_member(archive, info, _MAX_TEXT_MEMBER_BYTES, location)
                if text is not None:
                    found_pom = True
                    _pom_package(walk, text, location)
            elif name == "META-INF/MANIFEST.MF":
                manifest = info
            elif is_java_archive(name):
                _walk_nested(walk, archive, info, location, depth)
        if not found_pom and manifest is not None:
            location = f"{label}!{manifest.filename}"
            text = walk.read_member(archive, manifest, _MAX_TEXT_MEMBER_BYTES, location)
            if text is not None:
                _manifest_package(walk, text, location)


def _walk_nested(
    walk: _Walk, archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str, depth: int
) -> None:
    if depth >= walk.limits.max_archive_depth:
        walk.result.warnings.append(
            f"{label}: nested deeper than {walk.limits.max_archive_depth} archives; skipped"
        )
        return
    data = walk.read_member(archive, info, walk.limits.max_nested_archive_bytes, label)
    if data is not None:
        _walk_archive(walk, data, label, depth + 1)


def read_java_archive(data: bytes, context: FileContext, limits: Limits) -> FileResult:
    walk = _Walk(context, limits, FileResult(), limits.max_archive_read_bytes)
    _walk_archive(walk, data, context.path, 1)
    return walk.result
