"""Start Seawall and the reference registry as local processes for the benchmark.

Both servers listen on free loopback ports, keep their data under one
temporary folder and require HTTP Basic credentials for the same user and
password. The reference is Debian's `docker-registry` package, which is CNCF
distribution 2.8 with its filesystem storage driver and htpasswd auth.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DISTRIBUTION_BINARY = Path("/usr/bin/docker-registry")
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0

# Cost 5 is the default of `htpasswd -B` in apache2-utils 2.4. The reference
# checks the bcrypt hash on every request, so the cost sets its per-request
# CPU time.
HTPASSWD_BCRYPT_COST = 5


@dataclass(frozen=True)
class Registry:
    """A running registry process and how to reach it."""

    name: str
    host: str
    port: int
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bcrypt_hash(password: str) -> str:
    """Hash `password` with bcrypt at `HTPASSWD_BCRYPT_COST` for an htpasswd file.

    Tries the `bcrypt` package, then `htpasswd` from apache2-utils, then the
    standard library's `crypt` module, which calls the system's libcrypt
    (libxcrypt on Debian 12 supports bcrypt) and exists up to Python 3.12.
    """
    try:
        import bcrypt  # optional: not in the lock file

        salt = bcrypt.gensalt(rounds=HTPASSWD_BCRYPT_COST)
        return str(bcrypt.hashpw(password.encode(), salt).decode())
    except ImportError:
        pass

    htpasswd = shutil.which("htpasswd")
    if htpasswd is not None:
        command = [htpasswd, "-nbB", "-C", str(HTPASSWD_BCRYPT_COST), "user", password]
        output = subprocess.run(command, check=True, capture_output=True, text=True)
        return output.stdout.strip().split(":", 1)[1]

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # removed in Python 3.13
    except ImportError:
        raise RuntimeError(
            "cannot create a bcrypt hash: install the Python package bcrypt "
            "or apache2-utils (for htpasswd)"
        ) from None
    # METHOD_BLOWFISH is bcrypt, the one scheme distribution's htpasswd accepts.
    salt = crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << HTPASSWD_BCRYPT_COST)  # noqa: S324
    hashed = crypt.crypt(password, salt)
    if not hashed or not hashed.startswith("$2"):
        raise RuntimeError(
            "the system crypt() has no bcrypt support: install the Python "
            "package bcrypt or apache2-utils (for htpasswd)"
        )
    return hashed


def distribution_version() -> str:
    output = subprocess.run(
        [str(DISTRIBUTION_BINARY), "--version"],
        check=True,
        capture_output=True,
        text=True,
    )
    return output.stdout.strip().removeprefix(str(DISTRIBUTION_BINARY)).strip()


def _wait_until_ready(
    process: subprocess.Popen[bytes], port: int, log_path: Path
) -> None:
    """Poll `GET /v2/` until the server sends any HTTP response."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log_tail = log_path.read_text(errors="replace")[-4000:]
            raise RuntimeError(
                f"registry exited with code {process.returncode}:\n{log_tail}"
            )
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/v2/")
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
        finally:
            connection.close()
    log_tail = log_path.read_text(errors="replace")[-4000:]
    raise RuntimeError(
        f"registry on port {port} did not respond within {READY_TIMEOUT_SECONDS:.0f} s:\n"
        f"{log_tail}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def _run(
    name: str, command: list[str], env: dict[str, str], data_dir: Path, port: int
) -> Iterator[Registry]:
    log_path = data_dir.parent / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait_until_ready(process, port, log_path)
        yield Registry(name, f"127.0.0.1:{port}", port, process, data_dir, log_path)
    finally:
        _stop(process)


@contextmanager
def start_seawall(
    work_dir: Path,
    password: str,
    settings: dict[str, str] | None = None,
    name: str = "seawall",
) -> Iterator[Registry]:
    """Run `python -m seawall serve` with SQLite and default settings except `settings`.

    `settings` maps `SEAWALL_*` variable names to values. `name` names the
    data folder and the log, so several instances can run side by side.
    """
    data_dir = work_dir / f"{name}-data"
    data_dir.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "SEAWALL_LISTEN": f"127.0.0.1:{port}",
        "SEAWALL_DATA_DIR": str(data_dir),
        "SEAWALL_ADMIN_PASSWORD": password,
        **(settings or {}),
    }
    command = [sys.executable, "-m", "seawall", "serve"]
    with _run(name, command, env, data_dir, port) as registry:
        yield registry


def blob_file(registry: Registry, digest: str) -> Path:
    """Return the file that contains blob `digest` in the registry's data folder.

    Seawall names the file after the digest's hex part; distribution keeps
    the bytes in a file called `data` in a folder of that name.
    """
    hex_part = digest.split(":", 1)[1]
    for found in registry.data_dir.rglob(hex_part):
        candidate = found / "data" if found.is_dir() else found
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no file found for blob {digest} in the data folder of {registry.name}"
    )


def _distribution_config(data_dir: Path, port: int, htpasswd_path: Path | None) -> str:
    """Return a config with the settings of Debian's packaged config.yml.

    Only the listen address, the storage folder and the htpasswd path differ.
    """
    config = textwrap.dedent(
        f"""\
        version: 0.1
        log:
          level: info
        storage:
          filesystem:
            rootdirectory: {data_dir}
          cache:
            blobdescriptor: inmemory
          delete:
            enabled: true
        http:
          addr: 127.0.0.1:{port}
          secret: {os.urandom(16).hex()}
          headers:
            X-Content-Type-Options: [nosniff]
        """
    )
    if htpasswd_path is None:
        return config
    return config + textwrap.dedent(
        f"""\
        auth:
          htpasswd:
            realm: seawall-benchmark
            path: {htpasswd_path}
        """
    )


@contextmanager
def start_distribution(
    work_dir: Path,
    user: str,
    password: str,
    *,
    name: str = "distribution",
    auth: bool = True,
) -> Iterator[Registry]:
    """Run Debian's `docker-registry serve` with filesystem storage.

    With `auth`, every request must carry HTTP Basic credentials that match
    an htpasswd file containing `user` and the bcrypt hash of `password`.
    """
    data_dir = work_dir / f"{name}-data"
    data_dir.mkdir()
    port = free_port()
    htpasswd_path = None
    if auth:
        htpasswd_path = work_dir / f"{name}.htpasswd"
        htpasswd_path.write_text(f"{user}:{bcrypt_hash(password)}\n")
    config_path = work_dir / f"{name}.yml"
    config_path.write_text(_distribution_config(data_dir, port, htpasswd_path))
    command = [str(DISTRIBUTION_BINARY), "serve", str(config_path)]
    with _run(name, command, dict(os.environ), data_dir, port) as registry:
        yield registry
