"""Harbor's pagination: `page` and `page_size`, `X-Total-Count` and `Link`."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from fastapi import Request, Response

from seawall.api.errors import bad_request

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class Page:
    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def page_of(request: Request) -> Page:
    """Read `page` (from 1) and `page_size` (1 to 100) from the query string."""
    number = _positive(request, "page", 1)
    size = _positive(request, "page_size", DEFAULT_PAGE_SIZE)
    if size > MAX_PAGE_SIZE:
        raise bad_request(f"page_size must be at most {MAX_PAGE_SIZE}, got {size}")
    return Page(number, size)


def _positive(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9 or int(raw) < 1:
        raise bad_request(f"{name} must be a positive integer, got {raw!r}")
    return int(raw)


def set_page_headers(
    request: Request, response: Response, page: Page, total: int
) -> None:
    """Add `X-Total-Count` and Harbor's `Link` header (links joined by " , ")."""
    response.headers["X-Total-Count"] = str(total)
    links = []
    if page.number > 1 and (page.number - 1) * page.size < total:
        links.append(f'<{_url(request, page.number - 1, page.size)}>; rel="prev"')
    if page.number * page.size < total:
        links.append(f'<{_url(request, page.number + 1, page.size)}>; rel="next"')
    if links:
        response.headers["Link"] = " , ".join(links)


def _url(request: Request, number: int, size: int) -> str:
    params = dict(request.query_params)
    params["page"] = str(number)
    params["page_size"] = str(size)
    return f"{_encoded_path(request)}?{urlencode(params)}"


def _encoded_path(request: Request) -> str:
    # The path as the client encoded it, so a repository name sent as
    # `team%252Fapp` is not decoded into a different route in the link.
    raw_path = request.scope.get("raw_path")
    if isinstance(raw_path, bytes):
        return raw_path.decode("latin-1")
    return quote(request.url.path)
