"""Media types of the SBOM documents Seawall writes.

Kept apart from `sbom.py`, whose SBOM libraries take several MiB of
memory, so that routes which only compare media types do not load them.
"""

from __future__ import annotations

CYCLONEDX_MEDIA_TYPE = "application/vnd.cyclonedx+json"
SPDX_MEDIA_TYPE = "application/spdx+json"
