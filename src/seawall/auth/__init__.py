"""Authentication: who is calling."""

from seawall.auth.authenticator import (
    Authenticator,
    BasicCredentials,
    InvalidCredentials,
    TooManyFailures,
    parse_basic,
)
from seawall.auth.passwords import hash_password, verify_password
from seawall.auth.principal import ANONYMOUS, Principal

__all__ = [
    "ANONYMOUS",
    "Authenticator",
    "BasicCredentials",
    "InvalidCredentials",
    "Principal",
    "TooManyFailures",
    "hash_password",
    "parse_basic",
    "verify_password",
]
