"""OCI Distribution error codes and the one writer of their JSON envelope.

Every `/v2/` error leaves as `{"errors": [{"code", "message", "detail"}]}`
with the status registered for its code here. Registry exceptions are mapped
to codes by `error_for`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from seawall.registry import errors as registry_errors

logger = structlog.get_logger(__name__)


class ErrorCode(StrEnum):
    BLOB_UNKNOWN = "BLOB_UNKNOWN"
    BLOB_UPLOAD_INVALID = "BLOB_UPLOAD_INVALID"
    BLOB_UPLOAD_UNKNOWN = "BLOB_UPLOAD_UNKNOWN"
    DIGEST_INVALID = "DIGEST_INVALID"
    MANIFEST_BLOB_UNKNOWN = "MANIFEST_BLOB_UNKNOWN"
    MANIFEST_INVALID = "MANIFEST_INVALID"
    MANIFEST_UNKNOWN = "MANIFEST_UNKNOWN"
    NAME_INVALID = "NAME_INVALID"
    NAME_UNKNOWN = "NAME_UNKNOWN"
    SIZE_INVALID = "SIZE_INVALID"
    UNAUTHORIZED = "UNAUTHORIZED"
    DENIED = "DENIED"
    UNSUPPORTED = "UNSUPPORTED"
    TOOMANYREQUESTS = "TOOMANYREQUESTS"
    # Harbor's code for a pull refused by a project policy; the Docker CLI
    # prints its message.
    PROJECTPOLICYVIOLATION = "PROJECTPOLICYVIOLATION"
    UNKNOWN = "UNKNOWN"


STATUS: dict[ErrorCode, int] = {
    ErrorCode.BLOB_UNKNOWN: 404,
    ErrorCode.BLOB_UPLOAD_INVALID: 400,
    ErrorCode.BLOB_UPLOAD_UNKNOWN: 404,
    ErrorCode.DIGEST_INVALID: 400,
    ErrorCode.MANIFEST_BLOB_UNKNOWN: 400,
    ErrorCode.MANIFEST_INVALID: 400,
    ErrorCode.MANIFEST_UNKNOWN: 404,
    ErrorCode.NAME_INVALID: 400,
    ErrorCode.NAME_UNKNOWN: 404,
    ErrorCode.SIZE_INVALID: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.DENIED: 403,
    ErrorCode.UNSUPPORTED: 405,
    ErrorCode.TOOMANYREQUESTS: 429,
    ErrorCode.PROJECTPOLICYVIOLATION: 412,
    ErrorCode.UNKNOWN: 500,
}


@dataclass
class OciError(Exception):
    """An error reply on `/v2/`; `status` overrides the code's usual status."""

    code: ErrorCode
    message: str
    detail: object | None = None
    status: int | None = None
    headers: dict[str, str] | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# (code, status override) for each registry exception, most specific first.
_MAPPING: list[tuple[type[registry_errors.RegistryError], ErrorCode, int | None]] = [
    (registry_errors.NameInvalid, ErrorCode.NAME_INVALID, None),
    (registry_errors.ProjectNotFound, ErrorCode.NAME_UNKNOWN, None),
    (registry_errors.RepositoryNotFound, ErrorCode.NAME_UNKNOWN, None),
    (registry_errors.BlobNotFound, ErrorCode.BLOB_UNKNOWN, None),
    (registry_errors.UploadNotFound, ErrorCode.BLOB_UPLOAD_UNKNOWN, None),
    (registry_errors.RangeNotSatisfiable, ErrorCode.BLOB_UPLOAD_INVALID, 416),
    (registry_errors.UploadInvalid, ErrorCode.BLOB_UPLOAD_INVALID, None),
    (registry_errors.DigestUnsupported, ErrorCode.UNSUPPORTED, 400),
    (registry_errors.DigestInvalid, ErrorCode.DIGEST_INVALID, None),
    (registry_errors.SizeInvalid, ErrorCode.SIZE_INVALID, None),
    (registry_errors.ManifestNotFound, ErrorCode.MANIFEST_UNKNOWN, None),
    (registry_errors.ManifestTooLarge, ErrorCode.MANIFEST_INVALID, 413),
    (registry_errors.ManifestInvalid, ErrorCode.MANIFEST_INVALID, None),
    (registry_errors.ManifestBlobUnknown, ErrorCode.MANIFEST_BLOB_UNKNOWN, None),
    (registry_errors.ManifestInUse, ErrorCode.DENIED, 409),
    (registry_errors.Unsupported, ErrorCode.UNSUPPORTED, None),
    # The spec has no code for a full disk. 507 marks the failure as the
    # server's, not the request's.
    (registry_errors.StorageFull, ErrorCode.UNKNOWN, 507),
]


def error_for(exc: registry_errors.RegistryError) -> OciError:
    for cls, code, status in _MAPPING:
        if isinstance(exc, cls):
            return OciError(code, exc.message, exc.detail, status)
    return OciError(ErrorCode.UNKNOWN, "internal server error")


def error_response(error: OciError) -> Response:
    body = {
        "errors": [
            {"code": error.code.value, "message": error.message, "detail": error.detail}
        ]
    }
    headers = {"Docker-Distribution-API-Version": "registry/2.0"}
    if error.headers:
        headers.update(error.headers)
    return Response(
        json.dumps(body),
        status_code=error.status or STATUS[error.code],
        media_type="application/json",
        headers=headers,
    )


# A client checks whether a blob or manifest exists before pushing it, so a
# HEAD that finds nothing is routine, not a refusal.
_LOOKUP_MISSES = frozenset({ErrorCode.BLOB_UNKNOWN, ErrorCode.MANIFEST_UNKNOWN})


def _log_refusal(request: Request, error: OciError) -> None:
    status = error.status or STATUS[error.code]
    if status >= 500:
        log = logger.error
    elif request.method == "HEAD" and error.code in _LOOKUP_MISSES:
        log = logger.debug
    else:
        log = logger.info
    log(
        "request refused",
        method=request.method,
        path=request.url.path,
        status=status,
        code=error.code.value,
        reason=error.message,
    )


async def handle_oci_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OciError)
    _log_refusal(request, exc)
    return error_response(exc)


async def handle_registry_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, registry_errors.RegistryError)
    error = error_for(exc)
    _log_refusal(request, error)
    return error_response(error)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error = OciError(
            ErrorCode.UNSUPPORTED,
            f"method {request.method} is not supported on {request.url.path}",
        )
    elif exc.status_code == 404:
        error = OciError(
            ErrorCode.NAME_UNKNOWN
            if request.url.path.startswith("/v2/")
            else ErrorCode.UNSUPPORTED,
            f"no registry endpoint matches {request.url.path}",
            status=404,
        )
    else:
        error = OciError(ErrorCode.UNKNOWN, exc.detail, status=exc.status_code)
    _log_refusal(request, error)
    return error_response(error)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error", method=request.method, path=request.url.path)
    return error_response(OciError(ErrorCode.UNKNOWN, "internal server error"))
