"""Docker registry bearer tokens: issue and verify ES256-signed JWTs.

The registry accepts only tokens it signed itself: the algorithm is fixed,
the key is the registry's own, and a token whose header carries or points
to a key (`jwk`, `jku`, `x5c`, `x5u`) is rejected before verification.
Issuer, audience, expiry and issue time are required and checked.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ALGORITHM = "ES256"
ISSUER = "seawall-token-issuer"
# Harbor's audience; clients never read it, but tools that decode tokens do.
DEFAULT_SERVICE = "harbor-registry"
_KEY_HEADERS = frozenset({"jwk", "jku", "x5c", "x5u"})
LEEWAY_SECONDS = 60
VERIFIED_CACHE_SIZE = 4096


class InvalidToken(Exception):
    """A bearer token that this registry did not issue or that is no longer valid."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: str
    issued_at: int
    access: frozenset[tuple[str, str]]
    # (repository, project key) for each repository entry, so a token cannot
    # be used in a later project that reuses the name.
    project_keys: frozenset[tuple[str, str]]
    expires_at: int


def ensure_signing_key(path: Path) -> None:
    """Create the registry's token signing key if it does not exist (mode 0600)."""
    if path.exists():
        return
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    os.replace(temp, path)


class TokenService:
    """Signs and checks tokens with one key read from the data folder."""

    def __init__(self, key_path: Path, service: str = DEFAULT_SERVICE) -> None:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path} does not hold an EC private key")
        self._private_key = key
        self._public_key = key.public_key()
        self.service = service
        self._verified: OrderedDict[bytes, tuple[int, TokenClaims]] = OrderedDict()

    def issue(
        self, subject: str, access: list[dict[str, object]], lifetime_seconds: int
    ) -> tuple[str, int]:
        """Return a signed token and its issue time (Unix seconds)."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": self.service,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_seconds,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        return jwt.encode(claims, self._private_key, algorithm=ALGORITHM), now

    def verify(self, token: str) -> TokenClaims:
        """Return the claims of a token this registry issued, or raise `InvalidToken`.

        A verified token is remembered until it expires, so a client that
        sends the same token on every request pays for one signature check.
        """
        key = hashlib.sha256(token.encode()).digest()
        cached = self._verified.get(key)
        if cached is not None and cached[0] + LEEWAY_SECONDS > time.time():
            return cached[1]
        claims = self._verify_signature(token)
        self._verified[key] = (claims.expires_at, claims)
        while len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return claims

    def _verify_signature(self, token: str) -> TokenClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed bearer token") from exc
        if header.get("alg") != ALGORITHM or _KEY_HEADERS & header.keys():
            raise InvalidToken("bearer token was not issued by this registry")
        try:
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=[ALGORITHM],
                audience=self.service,
                issuer=ISSUER,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("bearer token has expired; request a new one") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("bearer token was not issued by this registry") from exc
        return TokenClaims(
            claims["sub"],
            int(claims["iat"]),
            _access_pairs(claims),
            _project_keys(claims),
            int(claims["exp"]),
        )


def _access_pairs(claims: dict[str, object]) -> frozenset[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    access = claims.get("access")
    if not isinstance(access, list):
        return frozenset()
    for entry in access:
        if not isinstance(entry, dict):
            continue
        kind, name, actions = entry.get("type"), entry.get("name"), entry.get("actions")
        if not isinstance(name, str) or not isinstance(actions, list):
            continue
        prefix = "" if kind == "repository" else f"{kind}:"
        pairs.update(
            (prefix + name, action) for action in actions if isinstance(action, str)
        )
    return frozenset(pairs)


def _project_keys(claims: dict[str, object]) -> frozenset[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    access = claims.get("access")
    if not isinstance(access, list):
        return frozenset()
    for entry in access:
        if not isinstance(entry, dict) or entry.get("type") != "repository":
            continue
        name, project_key = entry.get("name"), entry.get("project")
        if isinstance(name, str) and isinstance(project_key, str):
            pairs.add((name, project_key))
    return frozenset(pairs)
