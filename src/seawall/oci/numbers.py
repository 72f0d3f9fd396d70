"""Strict parsing of the decimal numbers that arrive in request headers and queries."""

from __future__ import annotations

import re

# Nineteen digits cover every size a 64-bit offset can hold; longer values
# are rejected before `int()` parses them.
_DECIMAL_RE = re.compile(r"[0-9]{1,19}")


def parse_decimal(value: str) -> int | None:
    """Return `value` as a non-negative integer, or None unless it is 1 to 19 ASCII digits."""
    if not _DECIMAL_RE.fullmatch(value):
        return None
    return int(value)
