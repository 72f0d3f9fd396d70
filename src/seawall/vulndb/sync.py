"""Scheduled re-import of the configured advisory source (`vulndb_source`).

The source is a folder of OSV zip files, the http(s) URL of one zip, or
the URL of a listing (an HTML index or a plain text list) that names zip
files. Each zip whose sha256 equals that of the newest import of the same
source is skipped, so an unchanged source costs one download and no write.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import structlog

from seawall.db import Database
from seawall.vulndb.importer import ImportResult, import_source
from seawall.vulndb.sources import SourceError, download, file_sha256, is_url
from seawall.vulndb.store import last_import_sha256

logger = structlog.get_logger(__name__)

MAX_LISTING_BYTES = 1024 * 1024
_ZIP_LINK = re.compile(r"""(?:href\s*=\s*["']?|^|\s)([^\s"'<>]+\.zip)\b""", re.I | re.M)


def sync_source(db: Database, source: str) -> list[ImportResult]:
    """Import every zip of `source` whose content changed since its last import.

    Returns the results of the zips imported; unchanged zips are logged and
    left out. A listing or folder that cannot be read raises `SourceError`.
    """
    if is_url(source):
        return [
            result
            for url in _listed_zip_urls(source)
            if (result := _sync_url(db, url)) is not None
        ]
    folder = Path(source)
    if not folder.is_dir():
        raise SourceError(f"advisory source {source} is not a folder or an http(s) URL")
    return [
        result
        for path in sorted(folder.glob("*.zip"))
        if path.is_file() and (result := _sync_file(db, path)) is not None
    ]


def sync_periodically(
    db: Database,
    source: str,
    interval_seconds: float,
    stop: threading.Event,
    on_change: Callable[[], None],
) -> None:
    """Run `sync_source` every `interval_seconds` until `stop` is set.

    `on_change` runs after a sync that changed a record (for example to bump
    the metadata epoch). A failed sync, whatever the error, is logged and
    retried at the next interval.
    """
    while not stop.is_set():
        try:
            results = sync_source(db, source)
        except SourceError as exc:
            logger.warning("advisory sync failed", source=source, error=str(exc))
        except Exception:  # a bug or a database error must not end the schedule
            logger.exception("advisory sync failed unexpectedly", source=source)
        else:
            if any(result.changed_count for result in results):
                on_change()
        stop.wait(interval_seconds)


def _sync_file(db: Database, path: Path) -> ImportResult | None:
    label = str(path)
    if _unchanged(db, label, file_sha256(path)):
        return None
    return import_source(db, label)


def _sync_url(db: Database, url: str) -> ImportResult | None:
    with download(url) as path:
        if _unchanged(db, url, file_sha256(path)):
            return None
        return import_source(db, str(path), label=url, kind="url")


def _unchanged(db: Database, label: str, sha256: str) -> bool:
    with db.session(read_only=True) as session:
        previous = last_import_sha256(session, label)
    if previous == sha256:
        logger.info("advisory source unchanged", source=label, sha256=sha256)
        return True
    return False


def _listed_zip_urls(url: str) -> list[str]:
    if urlsplit(url).path.lower().endswith(".zip"):
        return [url]
    try:
        with (
            httpx.Client(
                timeout=60.0, follow_redirects=True, max_redirects=5
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise SourceError(
                    f"advisory listing {url} failed: HTTP status {response.status_code}"
                )
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_LISTING_BYTES:
                    raise SourceError(
                        f"advisory listing {url} is larger than {MAX_LISTING_BYTES} bytes"
                    )
            listing_url = str(response.url)
    except httpx.HTTPError as exc:
        raise SourceError(f"advisory listing {url} failed: {exc}") from None
    return _zip_links(listing_url, body.decode("utf-8", errors="replace"))


def _zip_links(listing_url: str, text: str) -> list[str]:
    """Return the zip links of a listing that stay on the listing's scheme and host."""
    base = urlsplit(listing_url)
    links: list[str] = []
    for match in _ZIP_LINK.finditer(text):
        absolute = urljoin(listing_url, match[1])
        target = urlsplit(absolute)
        # A listing may only point at its own server, so that a changed
        # listing cannot send the registry to fetch from internal addresses.
        if (target.scheme, target.netloc) != (base.scheme, base.netloc):
            logger.warning("advisory link to another host ignored", url=absolute)
            continue
        if absolute not in links:
            links.append(absolute)
    return links
