"""Build a large image from this machine's installed packages, and read inventories locally.

The image has one gzip layer with the files a scanner reads on a Debian
system with Python: `/etc/os-release`, the dpkg database, Debian's Python
packages, the site-packages of the virtualenv running this script (placed
under `/usr/local/lib`) and `/usr/share/doc`. It is written as an OCI image
layout, which skopeo can push.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import resource
import sysconfig
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from seawall.scan.inventory import LayerBlob, read_inventory

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
# The layout tags one manifest per variant. The variants share the layer
# and differ only in a config label, so each has its own manifest digest and
# Seawall reads the layer again on the first scan of each.
VARIANT_TAGS = ("1", "2", "3")
# zlib's default level, where Python's gzip module defaults to the slower 9.
GZIP_LEVEL = 6
FIXED_MTIME = 1_700_000_000

logger = logging.getLogger("scanning")


def image_trees() -> list[tuple[Path, str]]:
    """Return each folder or file to copy into the image, with its path in the image."""
    site_packages = Path(sysconfig.get_paths()["purelib"])
    return [
        (Path("/etc/os-release").resolve(), "etc/os-release"),
        (Path("/var/lib/dpkg/status"), "var/lib/dpkg/status"),
        (Path("/var/lib/dpkg/info"), "var/lib/dpkg/info"),
        (Path("/usr/lib/python3/dist-packages"), "usr/lib/python3/dist-packages"),
        (site_packages, "usr/local/lib/python3.11/site-packages"),
        (Path("/usr/share/doc"), "usr/share/doc"),
    ]


@dataclass(frozen=True)
class BuiltImage:
    layout: Path
    tags: tuple[str, ...]
    uncompressed_bytes: int
    compressed_bytes: int
    entries: int  # files, folders and links in the layer
    dpkg_packages: int  # stanzas in the copied dpkg status file


class _HashingWriter:
    """A write-only file that hashes and counts the bytes it passes to `target`."""

    def __init__(self, target: BinaryIO) -> None:
        self.target = target
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.target.write(data)

    def flush(self) -> None:
        self.target.flush()


def _normalize(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Keep folders, regular files and links, owned by root with a fixed mtime."""
    if not (info.isdir() or info.isreg() or info.issym() or info.islnk()):
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = FIXED_MTIME
    return info


def _add_parents(archive: tarfile.TarFile, paths: list[str]) -> None:
    parents = sorted(
        {
            "/".join(path.split("/")[:depth])
            for path in paths
            for depth in range(1, path.count("/") + 1)
        }
    )
    for parent in parents:
        info = tarfile.TarInfo(parent)
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        info.mtime = FIXED_MTIME
        archive.addfile(info)


@dataclass(frozen=True)
class _Layer:
    digest: str
    diff_id: str  # digest of the uncompressed tar
    compressed_bytes: int
    uncompressed_bytes: int
    entries: int


def _write_layer(path: Path) -> _Layer:
    """Write the gzip layer to `path`."""
    trees = image_trees()
    with path.open("wb") as file:
        compressed = _HashingWriter(file)
        with gzip.GzipFile(
            fileobj=cast(BinaryIO, compressed),
            mode="wb",
            compresslevel=GZIP_LEVEL,
            mtime=0,
        ) as gzip_file:
            uncompressed = _HashingWriter(cast(BinaryIO, gzip_file))
            with tarfile.open(
                fileobj=cast(BinaryIO, uncompressed),
                mode="w|",
                format=tarfile.PAX_FORMAT,
            ) as archive:
                _add_parents(archive, [name for _, name in trees])
                for source, name in trees:
                    archive.add(source, arcname=name, filter=_normalize)
                entries = len(archive.getmembers())
    return _Layer(
        f"sha256:{compressed.hash.hexdigest()}",
        f"sha256:{uncompressed.hash.hexdigest()}",
        compressed.size,
        uncompressed.size,
        entries,
    )


def _store_blob(blobs: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _write_manifest(blobs: Path, layer: _Layer, variant: str) -> dict[str, Any]:
    """Store a config and manifest for `layer` and return the manifest's descriptor."""
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"benchmark.variant": variant}},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
    }
    config_descriptor = _store_blob(blobs, json.dumps(config).encode())
    layer_descriptor = {
        "mediaType": OCI_LAYER,
        "digest": layer.digest,
        "size": layer.compressed_bytes,
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, **config_descriptor},
        "layers": [layer_descriptor],
    }
    descriptor = _store_blob(blobs, json.dumps(manifest).encode())
    return {
        "mediaType": OCI_MANIFEST,
        **descriptor,
        "annotations": {REF_NAME: variant},
    }


def _write_layout(layout: Path, layer: _Layer) -> None:
    """Write a manifest per variant, the index and the `oci-layout` file around `layer`."""
    blobs = layout / "blobs" / "sha256"
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [_write_manifest(blobs, layer, tag) for tag in VARIANT_TAGS],
    }
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))


def build_image(layout: Path) -> BuiltImage:
    """Write an OCI image layout with one layer of the machine's package data."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    partial = blobs / "layer.partial"
    started = time.perf_counter()
    layer = _write_layer(partial)
    partial.rename(blobs / layer.digest.removeprefix("sha256:"))
    _write_layout(layout, layer)
    logger.info(
        "built a %.0f MB layer (%.0f MB compressed) in %.1f s",
        layer.uncompressed_bytes / 1e6,
        layer.compressed_bytes / 1e6,
        time.perf_counter() - started,
    )

    status = Path("/var/lib/dpkg/status").read_text(errors="replace")
    return BuiltImage(
        layout=layout,
        tags=VARIANT_TAGS,
        uncompressed_bytes=layer.uncompressed_bytes,
        compressed_bytes=layer.compressed_bytes,
        entries=layer.entries,
        dpkg_packages=sum(line.startswith("Package:") for line in status.splitlines()),
    )


# Reading layouts


def _read_json(layout: Path, digest: str) -> dict[str, Any]:
    path = layout / "blobs" / "sha256" / digest.removeprefix("sha256:")
    document: dict[str, Any] = json.loads(path.read_bytes())
    return document


def _opener(path: Path) -> Callable[[], BinaryIO]:
    return lambda: path.open("rb")


def _image_manifests(layout: Path, tag: str) -> list[tuple[str, dict[str, Any]]]:
    """Return the digest and content of each image manifest that `tag` names."""
    index = json.loads((layout / "index.json").read_text())
    tagged = [
        entry
        for entry in index["manifests"]
        if entry.get("annotations", {}).get(REF_NAME) == tag
    ]
    if not tagged:
        raise ValueError(f"{layout} has no manifest tagged {tag}")
    pending = [tagged[0]]
    images = []
    while pending:
        descriptor = pending.pop(0)
        document = _read_json(layout, descriptor["digest"])
        if descriptor["mediaType"] == OCI_INDEX:
            pending.extend(document["manifests"])
        else:
            images.append((descriptor["digest"], document))
    return images


def _image_packages(layout: Path, digest: str, manifest: dict[str, Any]) -> int:
    layers = [
        LayerBlob(
            layer["digest"],
            layer["mediaType"],
            _opener(
                layout / "blobs" / "sha256" / layer["digest"].removeprefix("sha256:")
            ),
        )
        for layer in manifest["layers"]
    ]
    return len(read_inventory(digest, layers).packages)


def count_packages(layout: Path, tag: str) -> int:
    """Return the packages Seawall's reader finds in `tag`, summed over an index's images."""
    return sum(
        _image_packages(layout, digest, manifest)
        for digest, manifest in _image_manifests(layout, tag)
    )


@dataclass(frozen=True)
class InventoryRead:
    seconds: float
    cpu_seconds: float  # user plus system time of this process
    packages: int


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_read_inventory(layout: Path, tag: str) -> InventoryRead:
    """Run `read_inventory` on `tag` in this process and time it."""
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    packages = count_packages(layout, tag)
    seconds = time.perf_counter() - started
    return InventoryRead(seconds, _cpu_seconds() - cpu_before, packages)
