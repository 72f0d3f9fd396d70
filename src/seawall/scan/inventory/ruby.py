"""Ruby gems from installed gem specifications.

RubyGems writes `specifications/<name>-<version>.gemspec` for every
installed gem, a Ruby file with lines such as `s.name = "rack".freeze` and
`s.version = "2.2.3"`. The file is matched with regular expressions and
never evaluated.
"""

from __future__ import annotations

import re

from seawall.scan.inventory.purl import gem_purl
from seawall.scan.inventory.records import FileContext, FileResult
from seawall.scan.model import RUBYGEMS

_QUOTED = r"""(?:"(?P<{0}>[^"\n]*)"|'(?P<{0}q>[^'\n]*)')"""
_NAME = re.compile(r"^\s*\w+\.name\s*=\s*" + _QUOTED.format("value"), re.MULTILINE)
_VERSION = re.compile(
    r"^\s*\w+\.version\s*=\s*(?:Gem::Version\.new\(\s*)?" + _QUOTED.format("value"),
    re.MULTILINE,
)
_LICENSES = re.compile(r"^\s*\w+\.licenses?\s*=\s*\[?(?P<value>[^\n]*)", re.MULTILINE)
_LICENSE_ITEM = re.compile(r"""["']([^"'\n]+)["']""")


def is_gemspec(path: str) -> bool:
    parent, _, name = path.rpartition("/")
    return name.endswith(".gemspec") and (
        parent == "specifications" or parent.endswith("/specifications")
    )


def _first(pattern: re.Pattern[str], text: str) -> str:
    match = pattern.search(text)
    if match is None:
        return ""
    return (match["value"] or match["valueq"] or "").strip()


def read_gemspec(data: bytes, context: FileContext) -> FileResult:
    text = data.decode("utf-8", "replace")
    name, version = _first(_NAME, text), _first(_VERSION, text)
    if not name or not version:
        return FileResult(
            warnings=["gemspec has no name or version assignment; skipped"]
        )
    licence_line = _LICENSES.search(text)
    licenses = (
        tuple(_LICENSE_ITEM.findall(licence_line["value"])) if licence_line else ()
    )
    package = context.package(
        name=name,
        version=version,
        ecosystem=RUBYGEMS,
        purl=gem_purl(name, version),
        licenses=licenses,
    )
    return FileResult(packages=[package])
