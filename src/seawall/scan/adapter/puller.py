"""A small OCI distribution client that pulls one image manifest and its layers.

The scanner adapter receives a registry URL, an `Authorization` value and a
manifest digest, and uses this module to copy the image into a private
temporary folder. Every blob is checked against its digest and its
descriptor size while it is written, so the scan never reads bytes that the
registry did not promise.

Authentication follows the distribution token flow: the given value is sent
as it is, and when the registry responds 401 with a Bearer challenge and the
value is Basic, the credentials are exchanged for a token at the challenge's
realm, once, and the request is repeated with that token.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import structlog

from seawall.scan.adapter.spec import (
    DIGEST_PATTERN,
    IMAGE_MANIFEST_MIMES,
    INDEX_MIMES,
    REPOSITORY_PATTERN,
)

logger = structlog.get_logger(__name__)

MANIFEST_ACCEPT = ", ".join((*IMAGE_MANIFEST_MIMES, *INDEX_MIMES))
IMAGE_CONFIG_MIMES = (
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
)
MAX_REDIRECTS = 5
MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024


class PullError(Exception):
    """The image could not be pulled. The message gives the reason for the scan report."""


class RegistryAuthError(PullError):
    """The registry rejected the credentials or denied access to the repository."""


@dataclass(frozen=True, slots=True)
class PullLimits:
    """Size caps that keep a hostile or broken registry from filling memory or disk."""

    max_manifest_bytes: int = 4 * 1024 * 1024
    max_blob_bytes: int = 8 * 1024**3
    max_total_bytes: int = 32 * 1024**3
    # The whole pull, every request included. The per-request timeout alone
    # lets a registry that sends a byte now and then hold a scan forever. It
    # is checked between reads, so one stalled read can overrun it by up to
    # that timeout.
    # NOTE: an estimate, not a measurement: an hour fetches the largest
    # image the other limits allow at about 9 MB/s.
    max_pull_seconds: float = 3600.0


@dataclass(frozen=True, slots=True)
class PulledLayer:
    """One verified layer blob, stored compressed in the pull's folder."""

    digest: str
    media_type: str
    size: int
    path: Path


@dataclass(frozen=True, slots=True)
class PulledImage:
    """A verified manifest and its layers, valid until the pull's block exits."""

    digest: str
    media_type: str
    manifest: dict[str, Any]
    layers: list[PulledLayer]


@contextmanager
def pull_image(
    registry_url: str,
    authorization: str,
    repository: str,
    digest: str,
    *,
    limits: PullLimits | None = None,
    timeout: float = 60.0,
) -> Iterator[PulledImage]:
    """Pull `repository@digest` into a private temporary folder and yield it.

    The folder and everything in it are deleted when the block exits.
    Raises `PullError` (or `RegistryAuthError`) with a message for the report.
    """
    if not REPOSITORY_PATTERN.fullmatch(repository):
        raise PullError(f"invalid repository name {repository!r}")
    if not DIGEST_PATTERN.fullmatch(digest):
        raise PullError(f"invalid manifest digest {digest!r}")
    limits = limits or PullLimits()
    folder = Path(tempfile.mkdtemp(prefix="seawall-scan-"))
    try:
        with _RegistrySession(
            registry_url, authorization, repository, timeout, limits.max_pull_seconds
        ) as session:
            yield _pull(session, digest, limits, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _pull(
    session: _RegistrySession, digest: str, limits: PullLimits, folder: Path
) -> PulledImage:
    media_type, manifest = _fetch_manifest(session, digest, limits)
    descriptors = _layer_descriptors(manifest, digest)
    total = sum(size for _, _, size in descriptors)
    if total > limits.max_total_bytes:
        raise PullError(
            f"image {digest} has {total} bytes of layers, more than the limit of "
            f"{limits.max_total_bytes}"
        )
    layers = []
    for layer_digest, layer_type, size in descriptors:
        if size > limits.max_blob_bytes:
            raise PullError(
                f"layer {layer_digest} is {size} bytes, more than the limit of "
                f"{limits.max_blob_bytes}"
            )
        path = folder / layer_digest.replace(":", "-")
        if not path.exists():
            _download_blob(session, layer_digest, size, path)
        layers.append(PulledLayer(layer_digest, layer_type, size, path))
    return PulledImage(digest, media_type, manifest, layers)


def _fetch_manifest(
    session: _RegistrySession, digest: str, limits: PullLimits
) -> tuple[str, dict[str, Any]]:
    path = f"/v2/{session.repository}/manifests/{digest}"
    with session.get(path, accept=MANIFEST_ACCEPT) as response:
        _check_status(response, f"manifest {digest}", session)
        body = session.read_capped(
            response, limits.max_manifest_bytes, f"manifest {digest}"
        )
        header_type = response.headers.get("content-type", "").split(";")[0].strip()
    if _digest_of(body, digest) != digest:
        raise PullError(
            f"manifest bytes from the registry do not match digest {digest}"
        )
    try:
        manifest = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise PullError(f"manifest {digest} is not valid JSON") from None
    if not isinstance(manifest, dict):
        raise PullError(f"manifest {digest} is not a JSON object")
    media_type = manifest.get("mediaType") or header_type
    if media_type in INDEX_MIMES or "manifests" in manifest:
        raise PullError(
            f"artifact {digest} is an image index; send a scan request for each "
            "platform manifest it lists"
        )
    if media_type not in IMAGE_MANIFEST_MIMES:
        raise PullError(f"manifest {digest} has unsupported media type {media_type!r}")
    return str(media_type), manifest


def _layer_descriptors(
    manifest: dict[str, Any], digest: str
) -> list[tuple[str, str, int]]:
    config = manifest.get("config")
    config_type = config.get("mediaType") if isinstance(config, dict) else None
    if config_type not in IMAGE_CONFIG_MIMES:
        raise PullError(
            f"artifact {digest} is not a container image (config media type "
            f"{config_type!r})"
        )
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise PullError(f"manifest {digest} has no layers list")
    descriptors = []
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise PullError(f"layer {index} of manifest {digest} is not an object")
        layer_digest = layer.get("digest")
        size = layer.get("size")
        layer_type = layer.get("mediaType")
        if not isinstance(layer_digest, str) or not DIGEST_PATTERN.fullmatch(
            layer_digest
        ):
            raise PullError(f"layer {index} of manifest {digest} has an invalid digest")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise PullError(f"layer {index} of manifest {digest} has an invalid size")
        if not isinstance(layer_type, str):
            raise PullError(f"layer {index} of manifest {digest} has no media type")
        descriptors.append((layer_digest, layer_type, size))
    return descriptors


def _download_blob(
    session: _RegistrySession, digest: str, size: int, path: Path
) -> None:
    algorithm = digest.split(":", 1)[0]
    hasher = hashlib.new(algorithm)
    written = 0
    with (
        session.get(
            f"/v2/{session.repository}/blobs/{digest}", follow=True
        ) as response,
        _private_file(path) as file,
    ):
        _check_status(response, f"blob {digest}", session)
        for chunk in session.read_chunks(response, f"blob {digest}"):
            written += len(chunk)
            if written > size:
                raise PullError(
                    f"blob {digest} is larger than its descriptor size {size}"
                )
            hasher.update(chunk)
            file.write(chunk)
    if written != size:
        raise PullError(
            f"blob {digest} has {written} bytes, but its descriptor size is {size}"
        )
    if f"{algorithm}:{hasher.hexdigest()}" != digest:
        raise PullError(
            f"blob content from the registry does not match digest {digest}"
        )


@contextmanager
def _private_file(path: Path) -> Iterator[IO[bytes]]:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        yield file


def _digest_of(body: bytes, digest: str) -> str:
    algorithm = digest.split(":", 1)[0]
    return f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"


def _check_status(
    response: httpx.Response, what: str, session: _RegistrySession
) -> None:
    status = response.status_code
    if status == 200:
        return
    where = f"registry {session.base_url}"
    if status == 401:
        raise RegistryAuthError(
            f"{where} rejected the credentials for repository {session.repository} "
            f"(HTTP 401 on {what})"
        )
    if status == 403:
        raise RegistryAuthError(
            f"{where} denied access to repository {session.repository} "
            f"(HTTP 403 on {what})"
        )
    if status == 404:
        raise PullError(f"{where} has no {what} in repository {session.repository}")
    raise PullError(f"{where} returned HTTP {status} for {what}")


class _RegistrySession:
    """HTTP requests to one repository, with the token exchange done once if needed."""

    def __init__(
        self,
        registry_url: str,
        authorization: str,
        repository: str,
        timeout: float,
        max_seconds: float,
    ) -> None:
        self.base_url = registry_url.rstrip("/")
        self.repository = repository
        self._authorization = authorization
        self._token_tried = False
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)
        self._max_seconds = max_seconds
        self._deadline = time.monotonic() + max_seconds

    def __enter__(self) -> _RegistrySession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._client.close()

    def read_chunks(self, response: httpx.Response, what: str) -> Iterator[bytes]:
        """Yield the body of `response`, raising `PullError` on errors and past the deadline.

        Chunks are yielded as they arrive rather than gathered to a fixed
        size, so the deadline is checked however slowly the bytes come.
        """
        try:
            for chunk in response.iter_bytes():
                self._check_deadline(what)
                yield chunk
        except httpx.HTTPError as exc:
            raise PullError(
                f"reading {what} from registry {self.base_url} failed: {exc}"
            ) from exc

    def read_capped(self, response: httpx.Response, limit: int, what: str) -> bytes:
        content = bytearray()
        for chunk in self.read_chunks(response, what):
            content.extend(chunk)
            if len(content) > limit:
                raise PullError(f"{what} is larger than the limit of {limit} bytes")
        return bytes(content)

    def _check_deadline(self, what: str) -> None:
        if time.monotonic() > self._deadline:
            raise PullError(
                f"pulling from registry {self.base_url} timed out after "
                f"{self._max_seconds:g} s, while reading {what}"
            )

    @contextmanager
    def get(
        self, path: str, *, accept: str = "", follow: bool = False
    ) -> Iterator[httpx.Response]:
        """Send GET `path`, retrying once with a token after a Bearer challenge.

        With `follow`, redirects are followed (blob stores often redirect to
        object storage) but `Authorization` is sent only to the registry's
        own origin.
        """
        url = httpx.URL(f"{self.base_url}{path}")
        for _ in range(MAX_REDIRECTS + 1):
            self._check_deadline(path)
            headers = {"Accept": accept} if accept else {}
            if self._authorization and _same_origin(url, httpx.URL(self.base_url)):
                headers["Authorization"] = self._authorization
            try:
                request = self._client.build_request("GET", url, headers=headers)
                response = self._client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise PullError(
                    f"registry {self.base_url} could not be reached: {exc}"
                ) from exc
            # Only the registry's own challenge starts a token exchange, so
            # a host that it redirects to never receives the credentials.
            if (
                response.status_code == 401
                and _same_origin(url, httpx.URL(self.base_url))
                and self._exchange_token(response)
            ):
                response.close()
                continue
            if follow and response.is_redirect and "location" in response.headers:
                url = url.join(response.headers["location"])
                response.close()
                if url.scheme not in {"http", "https"}:
                    raise PullError(f"registry redirected to a non-HTTP URL for {path}")
                continue
            try:
                yield response
            finally:
                response.close()
            return
        raise PullError(f"registry {self.base_url} redirected too often for {path}")

    def _exchange_token(self, response: httpx.Response) -> bool:
        """Fetch a Bearer token with the Basic credentials; False if not applicable."""
        if self._token_tried or not self._authorization.lower().startswith("basic "):
            return False
        self._token_tried = True
        challenge = _parse_bearer_challenge(
            response.headers.get("www-authenticate", "")
        )
        realm = challenge.pop("realm", "")
        if not realm:
            return False
        realm_url = httpx.URL(realm)
        if realm_url.scheme not in {"http", "https"} or not realm_url.host:
            raise PullError(f"registry {self.base_url} named an invalid token realm")
        if realm_url.scheme != "https" and not _same_origin(
            realm_url, httpx.URL(self.base_url)
        ):
            raise PullError(
                f"registry {self.base_url} named a plain-HTTP token service on another "
                "host; credentials are not sent there"
            )
        params = {"scope": f"repository:{self.repository}:pull"}
        if challenge.get("service"):
            params["service"] = challenge["service"]
        self._authorization = f"Bearer {self._fetch_token(realm_url, params)}"
        return True

    def _fetch_token(self, realm: httpx.URL, params: dict[str, str]) -> str:
        try:
            with self._client.stream(
                "GET",
                realm,
                params=params,
                headers={"Authorization": self._authorization},
            ) as response:
                body = self.read_capped(
                    response, MAX_TOKEN_RESPONSE_BYTES, "token response"
                )
        except httpx.HTTPError as exc:
            raise PullError(
                f"token service {realm} could not be reached: {exc}"
            ) from exc
        if response.status_code in {401, 403}:
            raise RegistryAuthError(
                f"token service of registry {self.base_url} rejected the credentials "
                f"for repository {self.repository} (HTTP {response.status_code})"
            )
        if response.status_code != 200:
            raise PullError(
                f"token service of registry {self.base_url} returned HTTP "
                f"{response.status_code}"
            )
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise PullError("token service response is not JSON") from None
        token = (
            data.get("token") or data.get("access_token")
            if isinstance(data, dict)
            else None
        )
        if not isinstance(token, str) or not token:
            raise PullError("token service response has no token")
        return token


def _same_origin(left: httpx.URL, right: httpx.URL) -> bool:
    return (left.scheme, left.host, left.port) == (right.scheme, right.host, right.port)


_CHALLENGE_PARAMETER = re.compile(r'(\w+)="([^"]*)"')


def _parse_bearer_challenge(header: str) -> dict[str, str]:
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return {}
    return {key.lower(): value for key, value in _CHALLENGE_PARAMETER.findall(rest)}
