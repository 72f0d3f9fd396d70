"""Normalisation of tar entry names and link targets inside the image root."""

from __future__ import annotations

import posixpath


def clean_text(name: str) -> str:
    """Replace bytes that are not UTF-8 (kept by tarfile as surrogates) with escapes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def normalize_entry_name(name: str) -> str | None:
    """Return the entry's path relative to the image root, or None if unsafe.

    Leading "./" and "/" are dropped and "." components removed. A name with
    a ".." component is unsafe, because it could name a file outside the
    layer's own tree. The root itself normalises to "".
    """
    parts: list[str] = []
    for part in clean_text(name).split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            return None
        parts.append(part)
    return "/".join(parts)


def resolve_link(link_path: str, target: str) -> str:
    """Return the path a symbolic link names, resolved inside the image root.

    A relative target is joined to the link's directory. ".." at the root
    stays at the root, as it does for a process whose root is the image, so
    the result never leaves the image.
    """
    base = [] if target.startswith("/") else posixpath.dirname(link_path).split("/")
    parts: list[str] = []
    for part in base + clean_text(target).split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)
