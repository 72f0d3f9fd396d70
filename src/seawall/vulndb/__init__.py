"""The offline advisory database: OSV import, version matching and merged findings.

Other packages use `import_sources` and `sync_source` to load records,
`match_inventory` to turn an image inventory into findings, and
`current_generation` to tell when stored reports are out of date.

The names are loaded on first use, so a server process that never matches
or imports does not load the version libraries.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ImportResult": "seawall.vulndb.importer",
    "import_sources": "seawall.vulndb.importer",
    "match_inventory": "seawall.vulndb.matching",
    "current_generation": "seawall.vulndb.store",
    "import_history": "seawall.vulndb.store",
    "sync_source": "seawall.vulndb.sync",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
