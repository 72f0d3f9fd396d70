"""The package inventory of an image, read from its stored layers.

`read_inventory` streams each layer once, bottom-up, and parses the files
that record installed packages (distribution databases, language package
metadata, lockfiles, Java archives, and the build information of Go and
Rust executables) as they pass. Whiteouts and later layers are applied to
the parsed results, never to file contents. Memory grows with the number
of packages, plus one file at a time: up to 64 MiB for a metadata file and
512 MiB for an executable or Java archive (see `Limits`). Nothing from the
image is run or written to disk.

Bad image content does not raise. Stream errors end the layer with a
warning, and any exception from a file parser is caught at that file and
reported, so every problem becomes a line in `Inventory.warnings` and the
scan goes on with the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

from seawall.scan.inventory.assemble import build_inventory
from seawall.scan.inventory.limits import Limits
from seawall.scan.inventory.overlay import Overlay
from seawall.scan.inventory.walk import LayerReader
from seawall.scan.layers import LayerBlob
from seawall.scan.model import Inventory

__all__ = ["LayerBlob", "Limits", "read_inventory", "read_inventory_with_limits"]


def read_inventory_with_limits(
    manifest_digest: str, layers: Sequence[LayerBlob], limits: Limits
) -> Inventory:
    """Read the inventory of an image under explicit caps.

    `layers` are the manifest's layer descriptors in manifest order (bottom
    layer first). A package's `layer_index` is its layer's position in
    `layers`.
    """
    overlay = Overlay()
    warnings: list[str] = []
    for index, blob in enumerate(layers):
        LayerReader(index, blob, limits, overlay, warnings).read()
    return build_inventory(
        manifest_digest, overlay.files, warnings, limits.max_symlink_hops
    )


def read_inventory(
    manifest_digest: str,
    layers: Sequence[LayerBlob],
    *,
    max_layer_bytes: int = 8 * 1024**3,
) -> Inventory:
    """Read the inventory of an image whose layers are `layers`, bottom-up.

    `max_layer_bytes` caps the uncompressed bytes read from each layer; a
    layer that passes it is read up to the cap, with a warning.
    """
    limits = Limits(max_layer_bytes=max_layer_bytes)
    return read_inventory_with_limits(manifest_digest, layers, limits)
