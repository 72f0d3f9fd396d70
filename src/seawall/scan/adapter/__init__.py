"""Harbor's pluggable scanner adapter API: a client for external adapters, and a server.

`AdapterClient` talks to any adapter that follows the specification.
`create_adapter_app` serves Seawall's own scanner through the same API.
"""

from seawall.scan.adapter.client import AdapterClient, AdapterError, check_metadata
from seawall.scan.adapter.spec import (
    Artifact,
    Registry,
    ScannerAdapterMetadata,
    ScanRequest,
)

__all__ = [
    "AdapterClient",
    "AdapterError",
    "Artifact",
    "Registry",
    "ScanRequest",
    "ScannerAdapterMetadata",
    "check_metadata",
]
