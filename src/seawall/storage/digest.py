"""Digest parsing and hashing for the algorithms the registry accepts."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hashlib import _Hash

# Grammar from the OCI image spec: algorithm ":" encoded. Only registered
# algorithms are accepted, each with its exact hex length, so a digest can
# never carry path separators or dots into a storage path.
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}


class InvalidDigest(ValueError):
    """A string that is not a well-formed digest."""


class UnsupportedDigest(ValueError):
    """A well-formed digest whose algorithm the registry does not implement."""


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def hasher(self) -> _Hash:
        return hashlib.new(self.algorithm)


def parse_digest(value: str) -> Digest:
    """Parse `value` as a digest, raising `InvalidDigest` or `UnsupportedDigest`."""
    if not _DIGEST_RE.fullmatch(value):
        raise InvalidDigest(f"invalid digest {value!r}: expected ALGORITHM:HEX")
    algorithm, _, encoded = value.partition(":")
    length = ALGORITHMS.get(algorithm)
    if length is None:
        supported = ", ".join(sorted(ALGORITHMS))
        raise UnsupportedDigest(
            f"digest algorithm {algorithm!r} is not supported; use one of: {supported}"
        )
    if len(encoded) != length or not re.fullmatch(r"[a-f0-9]+", encoded):
        raise InvalidDigest(
            f"invalid {algorithm} digest {value!r}: expected {length} lowercase hex characters"
        )
    return Digest(algorithm, encoded)


def digest_bytes(data: bytes, algorithm: str = "sha256") -> Digest:
    return Digest(algorithm, hashlib.new(algorithm, data).hexdigest())
