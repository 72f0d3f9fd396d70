"""Harbor's pluggable scanner adapter API: a client for external adapters, and a server.

`AdapterClient` talks to any adapter that follows the specification.
`create_adapter_app` serves Seawall's own scanner through the same API.
The names are loaded on first use, so the registry does not load the HTTP
client until it calls an external adapter.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AdapterClient": "seawall.scan.adapter.client",
    "AdapterError": "seawall.scan.adapter.client",
    "check_metadata": "seawall.scan.adapter.client",
    "Artifact": "seawall.scan.adapter.spec",
    "Registry": "seawall.scan.adapter.spec",
    "ScannerAdapterMetadata": "seawall.scan.adapter.spec",
    "ScanRequest": "seawall.scan.adapter.spec",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
