"""Seawall's own scanner as a Harbor pluggable scanner adapter.

`create_adapter_app` serves the adapter API under `/api/v1`:

- `GET /metadata` names the scanner and its capability, and gives the time
  of the newest advisory import as `vulnerability-database-updated-at`.
- `POST /scan` validates the request and returns 202 with a scan id. The scan
  runs in a thread pool (see `seawall.scan.adapter.engine`).
- `GET /scan/{id}/report` returns 302 with `Refresh-After` while the scan
  runs, the report in the media type of the `Accept` header when it is
  done, or 500 with the reason when it failed.

Errors use the specification's body, `{"error": {"message": ...}}`.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from seawall import __version__
from seawall.db import Database
from seawall.scan.adapter.engine import JobStatus, ScanEngine, ScanJob, TooManyScans
from seawall.scan.adapter.puller import PullLimits
from seawall.scan.adapter.spec import (
    API_KEY_HEADER,
    API_PREFIX,
    DATABASE_UPDATED_PROPERTY,
    ERROR_MIME,
    IMAGE_MANIFEST_MIMES,
    INDEX_MIMES,
    METADATA_MIME,
    REFRESH_AFTER_HEADER,
    SCAN_RESPONSE_MIME,
    SCANNER_TYPE_PROPERTY,
    VULNERABILITY,
    ScanRequest,
)
from seawall.scan.reports import (
    GENERIC_REPORT_MIME,
    REPORT_MIMES,
    ScannerInfo,
    build_vulnerability_report,
    canonical_mime,
)
from seawall.settings import Settings

logger = structlog.get_logger(__name__)

SCANNER = ScannerInfo(name="Seawall", vendor="Seawall", version=__version__)
MAX_SCAN_REQUEST_BYTES = 64 * 1024
# pydantic error types that mean "wrong JSON type". The specification
# returns 400 for those and 422 for missing or invalid values.
_TYPE_ERRORS = {
    "model_type",
    "model_attributes_type",
    "string_type",
    "list_type",
    "dict_type",
}


@dataclass(frozen=True, slots=True)
class AdapterOptions:
    """Settings of the adapter that the registry's `Settings` do not carry."""

    api_key: str = ""  # empty: no key is required
    refresh_after_seconds: int = 2


class AdapterHTTPError(Exception):
    """An error response in the specification's error body."""

    def __init__(
        self, status_code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.headers = headers or {}


def error_response(
    status_code: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message}},
        status_code=status_code,
        headers=headers,
        media_type=ERROR_MIME,
    )


def create_adapter_app(
    settings: Settings, options: AdapterOptions | None = None
) -> Starlette:
    """Build the adapter application on the advisory database of `settings`."""
    options = options or AdapterOptions()
    engine = ScanEngine(
        Database(settings.resolved_database_url),
        workers=settings.scan_workers,
        pull_limits=PullLimits(
            max_manifest_bytes=settings.max_manifest_bytes,
            max_blob_bytes=settings.scan_max_layer_bytes,
        ),
        max_layer_bytes=settings.scan_max_layer_bytes,
    )
    handlers = _Handlers(engine, options)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        engine.shutdown()

    app = Starlette(
        routes=[
            Route(f"{API_PREFIX}/metadata", handlers.metadata, methods=["GET"]),
            Route(f"{API_PREFIX}/scan", handlers.scan, methods=["POST"]),
            Route(
                f"{API_PREFIX}/scan/{{scan_id}}/report",
                handlers.report,
                methods=["GET"],
            ),
        ],
        exception_handlers={
            AdapterHTTPError: _adapter_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
        lifespan=lifespan,
    )
    app.state.engine = engine
    return app


class _Handlers:
    def __init__(self, engine: ScanEngine, options: AdapterOptions) -> None:
        self.engine = engine
        self.options = options

    def _authorize(self, request: Request) -> None:
        expected = self.options.api_key
        if not expected:
            return
        given = request.headers.get(API_KEY_HEADER, "")
        authorization = request.headers.get("authorization", "")
        if not given and authorization[:7].lower() == "bearer ":
            given = authorization[7:].strip()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise AdapterHTTPError(
                401,
                f"missing or invalid API key; send it in {API_KEY_HEADER} "
                "or as a Bearer token",
                {"WWW-Authenticate": 'Bearer realm="Seawall scanner adapter"'},
            )

    async def metadata(self, request: Request) -> Response:
        self._authorize(request)
        try:
            updated_at = await run_in_threadpool(self.engine.database_updated_at)
        except SQLAlchemyError as exc:
            logger.exception("reading the advisory database failed")
            raise AdapterHTTPError(
                500, f"reading the advisory database failed: {type(exc).__name__}"
            ) from exc
        properties = {SCANNER_TYPE_PROPERTY: "os-package-vulnerability"}
        if updated_at is not None:
            properties[DATABASE_UPDATED_PROPERTY] = updated_at.isoformat().replace(
                "+00:00", "Z"
            )
        body = {
            "scanner": SCANNER.to_json(),
            "capabilities": [
                {
                    "type": VULNERABILITY,
                    "consumes_mime_types": list(IMAGE_MANIFEST_MIMES),
                    "produces_mime_types": list(REPORT_MIMES),
                }
            ],
            "properties": properties,
        }
        return JSONResponse(body, media_type=METADATA_MIME)

    async def scan(self, request: Request) -> Response:
        self._authorize(request)
        scan_request = _parse_scan_request(await _read_body(request))
        try:
            job = self.engine.submit(scan_request)
        except TooManyScans:
            raise AdapterHTTPError(
                503, "too many scans are queued; retry the request later"
            ) from None
        return JSONResponse(
            {"id": job.id}, status_code=202, media_type=SCAN_RESPONSE_MIME
        )

    async def report(self, request: Request) -> Response:
        self._authorize(request)
        scan_id = request.path_params["scan_id"]
        job = self.engine.jobs.get(scan_id)
        if job is None:
            raise AdapterHTTPError(
                404, f"scan {scan_id} not found; it was never accepted or has expired"
            )
        mime_type = _report_mime(request.headers.get("accept", ""))
        if job.status == JobStatus.PENDING:
            return Response(
                status_code=302,
                headers={REFRESH_AFTER_HEADER: str(self.options.refresh_after_seconds)},
            )
        if job.status == JobStatus.FAILED:
            raise AdapterHTTPError(500, job.error)
        return JSONResponse(_report_document(job, mime_type), media_type=mime_type)


async def _read_body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_SCAN_REQUEST_BYTES:
            raise AdapterHTTPError(
                413, f"scan request is larger than {MAX_SCAN_REQUEST_BYTES} bytes"
            )
    return bytes(body)


def _parse_scan_request(body: bytes) -> ScanRequest:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        # RecursionError: nesting deeper than the decoder's recursion limit.
        raise AdapterHTTPError(400, "scan request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise AdapterHTTPError(400, "scan request body is not a JSON object")
    try:
        scan_request = ScanRequest.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        status = 400 if any(error["type"] in _TYPE_ERRORS for error in errors) else 422
        raise AdapterHTTPError(
            status, "invalid scan request: " + "; ".join(_describe(e) for e in errors)
        ) from None
    _check_capabilities(scan_request)
    return scan_request


def _describe(error: ErrorDetails) -> str:
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        return f"{where} is missing"
    return f"{where} {error['msg'].removeprefix('Value error, ')}"


def _check_capabilities(scan_request: ScanRequest) -> None:
    mime_type = scan_request.artifact.mime_type
    if mime_type and mime_type not in (*IMAGE_MANIFEST_MIMES, *INDEX_MIMES):
        raise AdapterHTTPError(
            501,
            f"artifacts of media type {mime_type} cannot be scanned by this adapter",
        )
    enabled = scan_request.enabled_capabilities
    if enabled is not None and not any(c.type == VULNERABILITY for c in enabled):
        raise AdapterHTTPError(
            501,
            "this adapter has only the vulnerability capability; SBOMs are not produced",
        )


def _report_mime(accept: str) -> str:
    """Pick the report type from `Accept`; the generic type when none is named."""
    candidates = [part.strip() for part in accept.split(",") if part.strip()]
    if not candidates or any(
        c.split(";")[0].strip() in {"*/*", "application/*"} for c in candidates
    ):
        return GENERIC_REPORT_MIME
    supported = {canonical_mime(mime): mime for mime in REPORT_MIMES}
    for candidate in candidates:
        match = supported.get(canonical_mime(candidate))
        if match:
            return match
    raise AdapterHTTPError(
        501,
        f"report media type {accept!r} is not produced by this adapter; "
        f"use one of {', '.join(REPORT_MIMES)}",
    )


def _report_document(job: ScanJob, mime_type: str) -> dict[str, object]:
    cached = job.reports.get(mime_type)
    if cached is not None:
        return cached
    assert job.finished_at is not None
    artifact = job.request.artifact
    document = build_vulnerability_report(
        mime_type,
        job.findings,
        scanner=SCANNER,
        artifact_digest=artifact.digest,
        generated_at=job.finished_at,
        repository=artifact.repository,
        artifact_mime_type=artifact.mime_type,
    )
    job.reports[mime_type] = document
    return document


async def _adapter_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AdapterHTTPError)
    if exc.status_code >= 500:
        logger.warning(
            "adapter request failed", path=request.url.path, error=exc.message
        )
    return error_response(exc.status_code, exc.message, exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: "not found", 405: "method not allowed"}.get(
        exc.status_code, exc.detail
    )
    return error_response(
        exc.status_code, f"{request.method} {request.url.path}: {message}"
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.error(
        "adapter request failed unexpectedly", path=request.url.path, exc_info=exc
    )
    return error_response(500, "internal error; see the adapter log")
