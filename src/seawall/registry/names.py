"""Grammar of repository names, tags and references (OCI Distribution v1.1)."""

from __future__ import annotations

import re

from seawall.registry.errors import DigestInvalid, DigestUnsupported, NameInvalid
from seawall.storage import Digest, InvalidDigest, UnsupportedDigest, parse_digest

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
MAX_NAME_LENGTH = 255


def check_repository_name(name: str) -> str:
    """Return `name` if it is a valid repository name, else raise `NameInvalid`."""
    if len(name) > MAX_NAME_LENGTH:
        raise NameInvalid(
            f"repository name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}",
            {"name": name[:MAX_NAME_LENGTH]},
        )
    if not _NAME_RE.fullmatch(name):
        raise NameInvalid(
            f"invalid repository name {name!r}: use lowercase path components of "
            "letters and digits separated by '.', '_', '__' or '-', joined by '/'",
            {"name": name},
        )
    if "/" not in name:
        raise NameInvalid(
            f"repository name {name!r} has no project: use PROJECT/REPOSITORY, "
            "for example library/" + name,
            {"name": name},
        )
    return name


def project_of(name: str) -> str:
    return name.split("/", 1)[0]


def is_tag(reference: str) -> bool:
    return bool(_TAG_RE.fullmatch(reference))


def check_tag(tag: str) -> str:
    if not is_tag(tag):
        raise NameInvalid(
            f"invalid tag {tag!r}: up to 128 characters of letters, digits, '_', '.' "
            "and '-', not starting with '.' or '-'",
            {"tag": tag},
        )
    return tag


def to_digest(value: str) -> Digest:
    """Parse a digest from a request, mapping failures to registry errors."""
    try:
        return parse_digest(value)
    except UnsupportedDigest as exc:
        raise DigestUnsupported(str(exc), {"digest": value}) from exc
    except InvalidDigest as exc:
        raise DigestInvalid(str(exc), {"digest": value}) from exc


def is_digest_reference(reference: str) -> bool:
    return ":" in reference
