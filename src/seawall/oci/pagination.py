"""The `n` and `last` parameters of tag and catalog listings, and the `Link` header."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request

from seawall.oci.errors import ErrorCode, OciError
from seawall.oci.numbers import parse_decimal

# Listings return at most this many entries per page, with a Link to the next.
MAX_PAGE_ENTRIES = 1000


def page_params(request: Request) -> tuple[int, str | None]:
    """Return the page size and the `last` marker of a listing request."""
    raw = request.query_params.get("n")
    size = MAX_PAGE_ENTRIES
    if raw is not None:
        parsed = parse_decimal(raw)
        if parsed is None:
            # The spec defines no code for a bad page size; UNSUPPORTED with
            # 400 keeps the reply inside the spec's list of codes.
            raise OciError(
                ErrorCode.UNSUPPORTED,
                f"invalid page size n={raw!r}: use a non-negative integer",
                {"n": raw},
                status=400,
            )
        size = min(parsed, MAX_PAGE_ENTRIES)
    last = request.query_params.get("last") or None
    if last is not None and "\x00" in last:
        raise OciError(
            ErrorCode.UNSUPPORTED, "invalid last: contains a NUL character", status=400
        )
    return size, last


def next_link(
    path: str, size: int, entries: list[str], has_more: bool
) -> dict[str, str]:
    """Return a `Link` header for the next page when there is one."""
    if not has_more or not entries:
        return {}
    query = urlencode({"n": size, "last": entries[-1]})
    return {"Link": f'<{path}?{query}>; rel="next"'}
