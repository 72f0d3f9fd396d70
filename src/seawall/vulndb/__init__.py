"""The offline advisory database: OSV import, version matching and merged findings.

Other packages use `import_sources` and `sync_source` to load records,
`match_inventory` to turn an image inventory into findings, and
`current_generation` to tell when stored reports are out of date.
"""

from seawall.vulndb.importer import ImportResult, import_sources
from seawall.vulndb.matching import match_inventory
from seawall.vulndb.store import current_generation, import_history
from seawall.vulndb.sync import sync_source

__all__ = [
    "ImportResult",
    "current_generation",
    "import_history",
    "import_sources",
    "match_inventory",
    "sync_source",
]
