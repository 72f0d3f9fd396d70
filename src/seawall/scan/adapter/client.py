"""A client for scanner adapters that implement Harbor's pluggable scanner API.

Seawall uses it the way Harbor does: it reads and checks an adapter's
metadata when the adapter is registered, sends scan requests, and polls
for reports. Every failure raises `AdapterError`, with the adapter's own
error message when its response carries one.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import quote

import httpx
import structlog
from pydantic import ValidationError

from seawall.scan.adapter.spec import (
    API_KEY_HEADER,
    API_PREFIX,
    IMAGE_MANIFEST_MIMES,
    METADATA_MIME,
    REFRESH_AFTER_HEADER,
    SCAN_REQUEST_MIME,
    VULNERABILITY,
    ErrorResponse,
    ScannerAdapterMetadata,
    ScanRequest,
    ScanResponse,
)

logger = structlog.get_logger(__name__)

# Harbor stores the API key type as "X-ScannerAdapter-API-Key"; "APIKey" is
# accepted as a shorter name for the same thing.
AUTH_TYPES: tuple[str, ...] = ("", "Basic", "Bearer", "APIKey", API_KEY_HEADER)

DEFAULT_REFRESH_AFTER_SECONDS = 5.0
MAX_REFRESH_AFTER_SECONDS = 60.0
# Reports of large images run to tens of megabytes; anything far beyond is
# not a report this client should hold in memory.
MAX_RESPONSE_BYTES = 256 * 1024 * 1024
MAX_MESSAGE_CHARS = 1000


class AdapterError(Exception):
    """A scanner adapter failed, responded outside the specification, or timed out."""


class AdapterClient:
    """Send requests to one scanner adapter at `url` (its base URL, without `/api/v1`).

    `auth` and `credential` are the registration's values: "Basic" sends
    `Authorization: Basic base64(credential)`, "Bearer" sends
    `Authorization: Bearer credential`, "APIKey" sends the credential in
    `X-ScannerAdapter-API-Key`, and "" sends nothing. Redirects are never
    followed, because the report operation uses 302 to mean "not ready".
    """

    def __init__(
        self,
        url: str,
        *,
        auth: str = "",
        credential: str = "",
        skip_cert_verify: bool = False,
        timeout: float = 30.0,
    ) -> None:
        if auth not in AUTH_TYPES:
            raise AdapterError(
                f"unknown adapter auth type {auth!r}; use one of Basic, Bearer, APIKey, "
                f"{API_KEY_HEADER} or an empty string"
            )
        if auth and not credential:
            raise AdapterError(f"adapter auth type {auth} needs a credential")
        parsed = httpx.URL(url)
        if parsed.scheme not in {"http", "https"} or not parsed.host:
            raise AdapterError(f"adapter URL {url!r} is not an http or https URL")
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            base_url=f"{self.url}{API_PREFIX}",
            headers=_auth_headers(auth, credential),
            verify=not skip_cert_verify,
            timeout=timeout,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> AdapterClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def metadata(self) -> ScannerAdapterMetadata:
        """Fetch `GET /metadata` and check that Seawall can use this adapter."""
        response = self._send("GET", "/metadata", headers={"Accept": METADATA_MIME})
        if response.status_code != 200:
            raise self._error(response, "reading the adapter metadata")
        try:
            metadata = ScannerAdapterMetadata.model_validate(self._json(response))
        except ValidationError as exc:
            raise AdapterError(
                f"adapter {self.url} returned invalid metadata: {_first_error(exc)}"
            ) from None
        check_metadata(metadata, self.url)
        return metadata

    def scan(self, request: ScanRequest) -> str:
        """Send `POST /scan` and return the scan request id from the 202 response."""
        body = request.model_dump_json(exclude_none=True).encode()
        response = self._send(
            "POST",
            "/scan",
            content=body,
            headers={"Content-Type": SCAN_REQUEST_MIME, "Accept": "application/json"},
        )
        if response.status_code != 202:
            raise self._error(response, "sending the scan request")
        try:
            return ScanResponse.model_validate(self._json(response)).id
        except ValidationError:
            raise AdapterError(
                f"adapter {self.url} accepted the scan but returned no scan id"
            ) from None

    def report(self, scan_id: str, mime_type: str, *, poll_until: float) -> Any:
        """Poll `GET /scan/{id}/report` until the report is ready and return it.

        `poll_until` is a `time.monotonic()` deadline. While the adapter
        returns 302, the client waits `Refresh-After` seconds (default 5,
        at most 60, never past the deadline) and sends the request again.
        """
        path = f"/scan/{quote(scan_id, safe='')}/report"
        while True:
            response = self._send("GET", path, headers={"Accept": mime_type})
            if response.status_code == 200:
                return self._json(response)
            if response.status_code != 302:
                raise self._error(response, f"fetching the report of scan {scan_id}")
            wait = _refresh_after(response.headers.get(REFRESH_AFTER_HEADER))
            remaining = poll_until - time.monotonic()
            if remaining <= 0:
                raise AdapterError(
                    f"adapter {self.url} did not finish scan {scan_id} before the "
                    "deadline; the report was still pending"
                )
            logger.debug("adapter report pending", scan_id=scan_id, wait_seconds=wait)
            time.sleep(min(wait, remaining))

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            with self._client.stream(method, path, **kwargs) as response:
                content = bytearray()
                for chunk in response.iter_bytes():
                    content.extend(chunk)
                    if len(content) > MAX_RESPONSE_BYTES:
                        raise AdapterError(
                            f"adapter {self.url} sent more than {MAX_RESPONSE_BYTES} "
                            f"bytes for {method} {path}"
                        )
        except httpx.TimeoutException as exc:
            raise AdapterError(
                f"adapter {self.url} timed out on {method} {path}: {exc}"
            ) from exc
        except httpx.HTTPError as exc:
            raise AdapterError(
                f"adapter {self.url} could not be reached for {method} {path}: {exc}"
            ) from exc
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=bytes(content),
            request=response.request,
        )

    def _json(self, response: httpx.Response) -> Any:
        try:
            return json.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise AdapterError(
                f"adapter {self.url} returned a body that is not JSON "
                f"(HTTP {response.status_code})"
            ) from None

    def _error(self, response: httpx.Response, action: str) -> AdapterError:
        message = _error_message(response)
        detail = f": {message}" if message else ""
        if response.is_redirect:
            detail = (
                f" (unexpected redirect to {response.headers.get('location', '')!r})"
            )
        return AdapterError(
            f"adapter {self.url} failed {action} with HTTP {response.status_code}{detail}"
        )


def check_metadata(metadata: ScannerAdapterMetadata, url: str = "") -> None:
    """Raise `AdapterError` unless the metadata describes a usable image scanner."""
    where = f"adapter {url}" if url else "adapter"
    scanner = metadata.scanner
    for field in ("name", "vendor", "version"):
        if not getattr(scanner, field).strip():
            raise AdapterError(f"{where} metadata has an empty scanner {field}")
    if not metadata.capabilities:
        raise AdapterError(f"{where} metadata lists no capabilities")
    for capability in metadata.capabilities:
        if capability.type != VULNERABILITY:
            continue
        if not capability.produces_mime_types:
            raise AdapterError(
                f"{where} vulnerability capability produces no report type"
            )
        if any(mime in IMAGE_MANIFEST_MIMES for mime in capability.consumes_mime_types):
            return
    raise AdapterError(
        f"{where} has no vulnerability capability that consumes "
        f"{' or '.join(IMAGE_MANIFEST_MIMES)}"
    )


def _auth_headers(auth: str, credential: str) -> dict[str, str]:
    if auth == "Basic":
        encoded = base64.b64encode(credential.encode()).decode()
        return {"Authorization": f"Basic {encoded}"}
    if auth == "Bearer":
        return {"Authorization": f"Bearer {credential}"}
    if auth in {"APIKey", API_KEY_HEADER}:
        return {API_KEY_HEADER: credential}
    return {}


def _refresh_after(value: str | None) -> float:
    try:
        seconds = float(value) if value is not None else DEFAULT_REFRESH_AFTER_SECONDS
    except ValueError:
        seconds = DEFAULT_REFRESH_AFTER_SECONDS
    if seconds != seconds or seconds < 0:  # NaN or negative
        seconds = DEFAULT_REFRESH_AFTER_SECONDS
    return min(seconds, MAX_REFRESH_AFTER_SECONDS)


def _error_message(response: httpx.Response) -> str:
    try:
        body = json.loads(response.content)
        message = ErrorResponse.model_validate(body).error.message
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError):
        return ""
    return message[:MAX_MESSAGE_CHARS]


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "body"
    return f"{where}: {error['msg']}"
