"""Blob storage: content-addressed files and uploads in progress."""

from seawall.storage.digest import (
    ALGORITHMS,
    Digest,
    InvalidDigest,
    UnsupportedDigest,
    digest_bytes,
    parse_digest,
)
from seawall.storage.filesystem import BlobStore, StorageError

__all__ = [
    "ALGORITHMS",
    "BlobStore",
    "Digest",
    "InvalidDigest",
    "StorageError",
    "UnsupportedDigest",
    "digest_bytes",
    "parse_digest",
]
