"""Python distributions from installed metadata.

Wheels install `<name>-<version>.dist-info/METADATA`; setuptools installs
`<name>-<version>.egg-info/PKG-INFO`, or a single `.egg-info` file that is
itself the PKG-INFO. All three use the core metadata format, which is an
email header block.
"""

from __future__ import annotations

from email.parser import HeaderParser

from seawall.scan.inventory.purl import pypi_purl
from seawall.scan.inventory.records import FileContext, FileResult
from seawall.scan.model import PYPI


def is_python_metadata(path: str, is_file: bool = True) -> bool:
    parent, _, name = path.rpartition("/")
    if name == "METADATA" and parent.endswith(".dist-info"):
        return True
    if name == "PKG-INFO" and parent.endswith(".egg-info"):
        return True
    return is_file and name.endswith(".egg-info")


def read_python_metadata(data: bytes, context: FileContext) -> FileResult:
    headers = HeaderParser().parsestr(data.decode("utf-8", "replace"), headersonly=True)
    name = (headers.get("Name") or "").strip()
    version = (headers.get("Version") or "").strip()
    if not name or not version:
        return FileResult(warnings=["core metadata has no Name or Version; skipped"])
    licence = " ".join((headers.get("License") or "").split())
    if not licence or licence.upper() == "UNKNOWN" or len(licence) > 200:
        licence = ""
    package = context.package(
        name=name,
        version=version,
        ecosystem=PYPI,
        purl=pypi_purl(name, version),
        licenses=(licence,) if licence else (),
    )
    return FileResult(packages=[package])
