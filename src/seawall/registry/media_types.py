"""Manifest media types the registry stores, and how each is validated."""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    }
)
OCI_IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_IMAGE_CONFIG = "application/vnd.docker.container.image.v1+json"

IMAGE_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_TYPES = IMAGE_MANIFESTS | INDEXES

# Layers that clients fetch from their own URLs, so the registry need not hold them.
FOREIGN_LAYERS = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)


def accepts(accept_header: str | None, media_type: str) -> bool:
    """Return whether an `Accept` header admits `media_type`.

    An absent header, `*/*` and `application/*` admit everything. A type
    whose weight is zero (`q=0`, `q=0.0`, `Q=0.000`) is excluded; other
    parameters are ignored.
    """
    if not accept_header:
        return True
    for item in accept_header.split(","):
        value, *parameters = item.split(";")
        value = value.strip().lower()
        if value not in {"*/*", "application/*", media_type}:
            continue
        if not any(_zero_weight(parameter) for parameter in parameters):
            return True
    return False


def _zero_weight(parameter: str) -> bool:
    name, _, value = parameter.strip().partition("=")
    if name.strip().lower() != "q":
        return False
    try:
        return float(value.strip()) == 0.0
    except ValueError:
        return False
