"""The operating system of an image, from os-release."""

from __future__ import annotations

from seawall.scan.inventory.records import FileContext, FileResult
from seawall.scan.model import OperatingSystem

OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")

_ESCAPED = {'"': '"', "\\": "\\", "$": "$", "`": "`"}


def _unquote(value: str) -> str:
    """Undo the shell quoting that os-release(5) allows in values."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    out: list[str] = []
    index = 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value) and value[index + 1] in _ESCAPED:
            out.append(value[index + 1])
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def parse_os_release(text: str) -> dict[str, str]:
    """Read the KEY=value lines of an os-release file."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        fields[key.strip()] = _unquote(value)
    return fields


def read_os_release(data: bytes, context: FileContext) -> FileResult:
    fields = parse_os_release(data.decode("utf-8", "replace"))
    os_id = fields.get("ID", "").strip().lower()
    if not os_id:
        return FileResult(warnings=["os-release has no ID field; ignored"])
    operating_system = OperatingSystem(
        id=os_id,
        version_id=fields.get("VERSION_ID", "").strip(),
        pretty_name=fields.get("PRETTY_NAME", "").strip(),
    )
    return FileResult(os=operating_system)
