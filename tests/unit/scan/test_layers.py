"""Layer reading under hostile input: whiteouts, unsafe names, links, bombs and damage."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import time

import pytest
import zstandard

from seawall.scan.inventory import (
    LayerBlob,
    Limits,
    read_inventory,
    read_inventory_with_limits,
)
from seawall.scan.layers import MAX_HEADER_BYTES, MAX_ZSTD_WINDOW_BYTES
from seawall.scan.model import Inventory
from tests.unit.scan.layer_builder import (
    DEBIAN_12,
    GZIP_LAYER,
    TAR_LAYER,
    Entry,
    blob,
    directory,
    file,
    layer,
    symlink,
    tar_bytes,
)

SITE = "usr/lib/python3/dist-packages"
STATUS = "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2\nArchitecture: amd64\n\n"


def metadata(name: str, version: str) -> str:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"


def dist_info(name: str, version: str) -> Entry:
    return file(f"{SITE}/{name}-{version}.dist-info/METADATA", metadata(name, version))


def names(inventory: Inventory) -> list[tuple[str, str, int]]:
    return sorted((p.name, p.version, p.layer_index) for p in inventory.packages)


def test_whiteout_deletes_file_and_directory() -> None:
    base = layer(
        file("etc/os-release", DEBIAN_12),
        file("var/lib/dpkg/status", STATUS),
        dist_info("six", "1.16.0"),
        dist_info("idna", "3.4"),
    )
    top = layer(
        file("var/lib/dpkg/.wh.status"),
        file(f"{SITE}/.wh.six-1.16.0.dist-info"),
    )

    inventory = read_inventory("sha256:m", [base, top])

    assert names(inventory) == [("idna", "3.4", 0)]
    assert inventory.warnings == []


def test_opaque_directory_hides_lower_layers_only() -> None:
    base = layer(dist_info("six", "1.16.0"), dist_info("idna", "3.4"))
    top = layer(file(f"{SITE}/.wh..wh..opq"), dist_info("attrs", "23.1.0"))

    inventory = read_inventory("sha256:m", [base, top])

    assert names(inventory) == [("attrs", "23.1.0", 1)]


def test_whiteout_spares_its_own_layer() -> None:
    base = layer(dist_info("six", "1.16.0"))
    top = layer(file(f"{SITE}/.wh.six-1.16.0.dist-info"), dist_info("six", "1.16.0"))

    inventory = read_inventory("sha256:m", [base, top])

    assert names(inventory) == [("six", "1.16.0", 1)]


def test_root_opaque_marker_hides_everything_below() -> None:
    base = layer(file("var/lib/dpkg/status", STATUS), dist_info("six", "1.16.0"))
    top = layer(file(".wh..wh..opq"))

    assert read_inventory("sha256:m", [base, top]).packages == []


def test_later_layer_replaces_file() -> None:
    base = layer(dist_info("six", "1.15.0"))
    top = layer(
        file(f"{SITE}/six-1.15.0.dist-info/METADATA", metadata("six", "1.16.0"))
    )

    inventory = read_inventory("sha256:m", [base, top])

    assert names(inventory) == [("six", "1.16.0", 1)]
    assert inventory.packages[0].layer_digest == top.digest


def test_file_replacing_directory_hides_its_contents() -> None:
    base = layer(dist_info("six", "1.16.0"))
    top = layer(file(f"{SITE}/six-1.16.0.dist-info", b"not a directory any more"))

    inventory = read_inventory("sha256:m", [base, top])

    assert inventory.packages == []
    assert inventory.warnings == []


def test_fifo_replacing_database_hides_it() -> None:
    base = layer(file("var/lib/dpkg/status", STATUS))
    top = layer(Entry("var/lib/dpkg/status", kind=tarfile.FIFOTYPE))

    inventory = read_inventory("sha256:m", [base, top])

    assert inventory.packages == []
    assert inventory.warnings == []


def test_device_file_is_not_read() -> None:
    device = Entry("var/lib/dpkg/status", kind=tarfile.CHRTYPE)

    inventory = read_inventory("sha256:m", [layer(device)])

    assert inventory.packages == []


def test_path_traversal_entries_are_skipped() -> None:
    hostile = layer(
        file("../../etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
        file("../../var/lib/dpkg/status", STATUS),
        file("usr/../../var/lib/dpkg/status", STATUS),
    )

    inventory = read_inventory("sha256:m", [hostile])

    assert inventory.packages == []
    [warning] = inventory.warnings
    assert warning == (
        f"layer 0 ({hostile.digest}): 3 entries with '..' in their names, skipped "
        "(first: '../../etc/passwd')"
    )


def test_absolute_names_stay_inside_the_root() -> None:
    entries = [file("/var/lib/dpkg/status", STATUS), file("/etc/os-release", DEBIAN_12)]

    inventory = read_inventory("sha256:m", [layer(*entries)])

    assert names(inventory) == [("bash", "5.2.15-2", 0)]
    assert inventory.packages[0].location == "var/lib/dpkg/status"
    [warning] = inventory.warnings
    assert "2 entries with absolute names, read relative to the image root" in warning
    assert "(first: '/var/lib/dpkg/status')" in warning


def test_whiteout_with_dotdot_target_is_ignored() -> None:
    base = layer(file("etc/os-release", DEBIAN_12), file("var/lib/dpkg/status", STATUS))
    top = layer(file("var/lib/dpkg/.wh.."))

    inventory = read_inventory("sha256:m", [base, top])

    assert names(inventory) == [("bash", "5.2.15-2", 0)]
    [warning] = inventory.warnings
    assert "1 entries with invalid whiteout names, ignored" in warning


def test_symlinked_database_is_not_followed() -> None:
    image = layer(
        file("srv/status", STATUS),
        symlink("var/lib/dpkg/status", "/srv/status"),
    )

    inventory = read_inventory("sha256:m", [image])

    assert inventory.packages == []
    [warning] = inventory.warnings
    assert warning == (
        f"layer 0 ({image.digest}): var/lib/dpkg/status: symbolic link to '/srv/status' "
        "is not followed, because its target 'srv/status' is not a file the scanner reads"
    )


def test_symlink_escaping_root_resolves_inside_it() -> None:
    image = layer(symlink("var/lib/dpkg/status", "../../../../../../tmp/status"))

    inventory = read_inventory("sha256:m", [image])

    [warning] = inventory.warnings
    assert "its target 'tmp/status' is not a file the scanner reads" in warning


def test_os_release_symlink_is_followed_within_image() -> None:
    image = layer(
        symlink("etc/os-release", "../usr/lib/os-release"),
        file(
            "usr/lib/os-release",
            'ID=ubuntu\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu 22.04.3 LTS"\n',
        ),
    )

    inventory = read_inventory("sha256:m", [image])

    assert inventory.os is not None
    assert (inventory.os.id, inventory.os.version_id) == ("ubuntu", "22.04")
    assert inventory.warnings == []


def test_symlink_loop_yields_warning() -> None:
    image = layer(
        symlink("etc/os-release", "../usr/lib/os-release"),
        symlink("usr/lib/os-release", "/etc/os-release"),
        symlink("var/lib/dpkg/status", "status"),
    )

    inventory = read_inventory("sha256:m", [image])

    assert inventory.os is None
    assert len(inventory.warnings) == 3
    for warning in inventory.warnings:
        assert "because more than 40 symbolic links in a row (a loop?)" in warning


def test_hard_link_to_database_is_reported() -> None:
    image = layer(
        file("srv/status", STATUS),
        Entry("var/lib/dpkg/status", kind=tarfile.LNKTYPE, link="srv/status"),
    )

    inventory = read_inventory("sha256:m", [image])

    assert inventory.packages == []
    [warning] = inventory.warnings
    assert warning.endswith(
        "var/lib/dpkg/status: hard link to 'srv/status' is not read"
    )


class _GzipBomb(io.RawIOBase):
    """A gzip stream of a tar whose one entry claims 8 GiB of zeros, made on the fly."""

    def __init__(self, head: bytes) -> None:
        self._pending = gzip.compress(head, mtime=0)
        self._zeros = gzip.compress(bytes(16 * 1024 * 1024), compresslevel=1, mtime=0)
        self.members_left = 512  # 512 members of 16 MiB each: 8 GiB in all

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._pending and self.members_left:
            self.members_left -= 1
            self._pending = self._zeros
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def test_gzip_bomb_stops_at_layer_cap() -> None:
    head = tar_bytes(
        [file("etc/os-release", DEBIAN_12), file("var/lib/dpkg/status", STATUS)]
    )
    status_entry = head[: head.rindex(b"bash") // 512 * 512 + 512]  # drop end marker
    big = tarfile.TarInfo("big.bin")
    big.size = 8 * 1024**3
    bomb = _GzipBomb(status_entry + big.tobuf(tarfile.PAX_FORMAT))
    bomb_blob = LayerBlob("sha256:bomb", GZIP_LAYER, lambda: io.BufferedReader(bomb))

    started = time.monotonic()
    inventory = read_inventory(
        "sha256:m", [bomb_blob], max_layer_bytes=64 * 1024 * 1024
    )
    elapsed = time.monotonic() - started

    assert names(inventory) == [("bash", "5.2.15-2", 0)]
    [warning] = inventory.warnings
    assert warning == (
        "layer 0 (sha256:bomb): reading stopped: uncompressed size passed the cap of "
        "67108864 bytes; files read before this point are kept"
    )
    assert bomb.members_left > 500  # at most a handful of 16 MiB members were inflated
    assert elapsed < 60


def test_truncated_gzip_keeps_files_before_damage() -> None:
    data = gzip.compress(
        tar_bytes(
            [
                file("etc/os-release", DEBIAN_12),
                file("noise.bin", os.urandom(256 * 1024)),
            ]
        ),
        mtime=0,
    )
    truncated = blob(data[: len(data) // 2], digest="sha256:cut")

    inventory = read_inventory("sha256:m", [truncated])

    assert inventory.os is not None
    [warning] = inventory.warnings
    assert warning.startswith("layer 0 (sha256:cut): reading stopped: ")
    assert (
        "Compressed file ended before the end-of-stream marker was reached" in warning
    )
    assert warning.endswith("files read before this point are kept")


def test_corrupt_gzip_data_is_reported() -> None:
    data = bytearray(
        gzip.compress(tar_bytes([file("noise.bin", os.urandom(64 * 1024))]))
    )
    data[40:60] = bytes(20)

    inventory = read_inventory("sha256:m", [blob(bytes(data), digest="sha256:bad")])

    [warning] = inventory.warnings
    assert warning.startswith("layer 0 (sha256:bad): reading stopped: ")


def test_non_tar_blob_is_reported() -> None:
    gzipped_text = blob(gzip.compress(b"hello world\n" * 100), digest="sha256:text")
    plain_text = blob(
        b"just some bytes, not an archive" * 40, TAR_LAYER, "sha256:plain"
    )

    inventory = read_inventory("sha256:m", [gzipped_text, plain_text])

    assert inventory.warnings == [
        "layer 0 (sha256:text): reading stopped: the blob is not a tar archive; "
        "files read before this point are kept",
        "layer 1 (sha256:plain): reading stopped: the blob is not a tar archive; "
        "files read before this point are kept",
    ]


ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"


def test_zstd_layer_is_read() -> None:
    data = zstandard.ZstdCompressor(level=3).compress(
        tar_bytes(
            [file("etc/os-release", DEBIAN_12), file("var/lib/dpkg/status", STATUS)]
        )
    )

    inventory = read_inventory("sha256:m", [blob(data, ZSTD_LAYER)])

    assert names(inventory) == [("bash", "5.2.15-2", 0)]
    assert inventory.warnings == []


def test_zstd_layer_in_several_frames_is_read() -> None:
    """zstd:chunked layers hold one frame per part; every frame is read."""
    archive = tar_bytes(
        [
            file("etc/os-release", DEBIAN_12),
            file("noise.bin", os.urandom(200 * 1024)),
            file("var/lib/dpkg/status", STATUS),
        ]
    )
    compressor = zstandard.ZstdCompressor()
    parts = [archive[start : start + 65536] for start in range(0, len(archive), 65536)]
    data = b"".join(compressor.compress(part) for part in parts)

    inventory = read_inventory("sha256:m", [blob(data, ZSTD_LAYER)])

    assert len(parts) > 3
    assert names(inventory) == [("bash", "5.2.15-2", 0)]
    assert inventory.warnings == []


def test_truncated_zstd_keeps_files_before_damage() -> None:
    data = zstandard.ZstdCompressor().compress(
        tar_bytes(
            [
                file("etc/os-release", DEBIAN_12),
                file("noise.bin", os.urandom(256 * 1024)),
            ]
        )
    )
    truncated = blob(data[: len(data) // 2], ZSTD_LAYER, "sha256:cut")
    good = layer(file("var/lib/dpkg/status", STATUS))

    inventory = read_inventory("sha256:m", [truncated, good])

    assert inventory.os is not None
    assert names(inventory) == [("bash", "5.2.15-2", 1)]
    [warning] = inventory.warnings
    assert warning.startswith("layer 0 (sha256:cut): reading stopped: ")
    assert warning.endswith("files read before this point are kept")


@pytest.mark.parametrize("media_type", [ZSTD_LAYER, TAR_LAYER])
def test_layer_cut_inside_first_header(media_type: str) -> None:
    """A layer that ends inside its first tar header is reported as cut short."""
    archive = tar_bytes([file("etc/os-release", DEBIAN_12)])
    if media_type == ZSTD_LAYER:
        data = zstandard.ZstdCompressor().compress(archive)
        # Cutting the frame halfway leaves fewer than 512 bytes to decode.
        data = data[: len(data) // 4]
    else:
        data = archive[:300]
    short = blob(data, media_type, "sha256:short")

    inventory = read_inventory("sha256:m", [short])

    [warning] = inventory.warnings
    assert warning.startswith("layer 0 (sha256:short): reading stopped: ")
    assert "before a whole 512-byte tar header" in warning
    assert "truncated or not a tar archive" in warning


def test_zstd_window_above_the_limit_is_refused() -> None:
    """A frame that requests a larger window than allowed is not decoded."""
    window_log = (MAX_ZSTD_WINDOW_BYTES * 2).bit_length() - 1
    # Without a content size in the frame, the compressor keeps the window
    # it was given, as a streaming writer of a large layer would.
    parameters = zstandard.ZstdCompressionParameters.from_level(
        3, window_log=window_log, enable_ldm=True, write_content_size=False
    )
    writer = zstandard.ZstdCompressor(compression_params=parameters).compressobj()
    archive = tar_bytes([file("etc/os-release", DEBIAN_12)])
    data = writer.compress(archive) + writer.flush()
    assert zstandard.get_frame_parameters(data).window_size > MAX_ZSTD_WINDOW_BYTES
    wide = blob(data, ZSTD_LAYER, "sha256:wide")

    inventory = read_inventory("sha256:m", [wide])

    assert inventory.os is None
    [warning] = inventory.warnings
    assert warning.startswith("layer 0 (sha256:wide): reading stopped: ")
    assert "too much memory" in warning


def test_compression_detected_by_magic_not_media_type() -> None:
    debian = [file("etc/os-release", DEBIAN_12), file("var/lib/dpkg/status", STATUS)]
    plain_as_gzip = blob(tar_bytes(debian), GZIP_LAYER)
    gzip_as_plain = blob(
        gzip.compress(tar_bytes([dist_info("six", "1.16.0")])), TAR_LAYER
    )

    inventory = read_inventory("sha256:m", [plain_as_gzip, gzip_as_plain])

    assert names(inventory) == [("bash", "5.2.15-2", 0), ("six", "1.16.0", 1)]
    assert inventory.warnings == []


def test_docker_media_type_and_empty_layer() -> None:
    docker = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    empty = blob(gzip.compress(bytes(1024)), docker)
    debian = [file("etc/os-release", DEBIAN_12), file("var/lib/dpkg/status", STATUS)]
    content = blob(gzip.compress(tar_bytes(debian)), docker)

    inventory = read_inventory("sha256:m", [empty, content])

    assert names(inventory) == [("bash", "5.2.15-2", 1)]
    assert inventory.warnings == []


def test_non_layer_blob_is_skipped() -> None:
    config = blob(b"{}", "application/vnd.oci.image.config.v1+json", "sha256:config")

    inventory = read_inventory("sha256:m", [config])

    assert inventory.warnings == [
        "layer 0 (sha256:config): media type 'application/vnd.oci.image.config.v1+json' "
        "is not an image layer; skipped"
    ]


def test_unopenable_blob_is_reported() -> None:
    def missing() -> io.BytesIO:
        raise FileNotFoundError("blob not in storage")

    inventory = read_inventory(
        "sha256:m", [LayerBlob("sha256:gone", GZIP_LAYER, missing)]
    )

    assert inventory.warnings == [
        "layer 0 (sha256:gone): blob could not be opened: blob not in storage; skipped"
    ]


def test_entry_cap_stops_layer() -> None:
    entries = [file(f"f{number}", "x") for number in range(20)]
    limits = Limits(max_layer_entries=10)

    inventory = read_inventory_with_limits(
        "sha256:m", [layer(*entries, digest="sha256:many")], limits
    )

    assert inventory.warnings == [
        "layer 0 (sha256:many): more than 10 entries; the rest of the layer is not read"
    ]


def test_damaged_tar_header_is_reported() -> None:
    data = bytearray(
        tar_bytes(
            [file("etc/os-release", DEBIAN_12), file("var/lib/dpkg/status", STATUS)]
        )
    )
    second_header = data.index(b"var/lib/dpkg/status") // 512 * 512
    data[second_header + 148 : second_header + 156] = b"0000000\x00"  # wrong checksum

    inventory = read_inventory("sha256:m", [blob(bytes(data), TAR_LAYER, "sha256:hdr")])

    assert inventory.os is not None
    assert inventory.packages == []
    [warning] = inventory.warnings
    assert warning.startswith(
        "layer 0 (sha256:hdr): reading stopped: invalid tar header"
    )


def test_oversized_pax_header_is_rejected() -> None:
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = MAX_HEADER_BYTES + 1
    data = header.tobuf(tarfile.USTAR_FORMAT) + bytes(MAX_HEADER_BYTES + 1024)

    inventory = read_inventory("sha256:m", [blob(data, TAR_LAYER, "sha256:pax")])

    [warning] = inventory.warnings
    assert warning.startswith(
        f"layer 0 (sha256:pax): reading stopped: extended header of {MAX_HEADER_BYTES + 1} "
        f"bytes passes the cap of {MAX_HEADER_BYTES} bytes"
    )


def test_oversized_metadata_file_is_skipped() -> None:
    limits = Limits(max_metadata_bytes=100)
    image = layer(file("var/lib/dpkg/status", STATUS * 10), directory("var/lib"))

    inventory = read_inventory_with_limits("sha256:m", [image], limits)

    assert inventory.packages == []
    [warning] = inventory.warnings
    assert warning.endswith(
        f"var/lib/dpkg/status: {len(STATUS) * 10} bytes pass the cap of 100; not read"
    )
