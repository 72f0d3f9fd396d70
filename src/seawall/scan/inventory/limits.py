"""Caps on what the inventory reader reads from one image."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps that keep a hostile image from costing more than a normal one.

    Every cap ends in a warning, never an exception. Byte caps count
    uncompressed bytes.
    """

    max_layer_bytes: int = 8 * 1024 * MIB
    # NOTE: a guessed cap. Large real layers hold a few hundred thousand entries.
    max_layer_entries: int = 1_000_000
    max_metadata_bytes: int = 64 * MIB  # one package database or manifest file
    max_binary_bytes: int = 512 * MIB  # one executable or Java archive, held in memory
    max_nested_archive_bytes: int = 64 * MIB  # one archive inside a Java archive
    max_archive_depth: int = 4  # Java archives inside Java archives
    max_archive_members: int = 100_000  # entries of one Java archive
    max_archive_read_bytes: int = (
        256 * MIB
    )  # uncompressed bytes read from one archive tree
    max_symlink_hops: int = 40
    # Linux's PATH_MAX. The overlay keeps every parent directory of a stored
    # path, so a longer name would cost memory quadratic in its length.
    max_path_bytes: int = 4096
