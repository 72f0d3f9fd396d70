"""Typed settings: the only reader of `SEAWALL_*` environment variables.

Values come, highest priority first, from command-line flags, environment
variables, a TOML config file named by `SEAWALL_CONFIG`, then the defaults
below.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_ADMIN_PASSWORD = "Harbor12345"  # noqa: S105 - Harbor's documented default


class _TomlFileSource(PydanticBaseSettingsSource):
    """Settings read from the TOML file named by `SEAWALL_CONFIG`, if any."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        if path is not None:
            try:
                with path.open("rb") as file:
                    self._data = tomllib.load(file)
            except OSError as exc:
                raise ValueError(
                    f"cannot read config file {path}: {exc.strerror}"
                ) from exc
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(
                    f"config file {path} is not valid TOML: {exc}"
                ) from exc

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class Settings(BaseSettings):
    """Every setting of a Seawall process."""

    model_config = SettingsConfigDict(env_prefix="SEAWALL_", extra="forbid")

    config: Path | None = Field(
        default=None,
        description=(
            "TOML file with settings, keyed by the option names of "
            "seawall serve with underscores."
        ),
    )
    listen: str = Field(
        default="127.0.0.1:5000",
        description="Address and port the server binds, HOST:PORT.",
    )
    data_dir: Path = Field(
        default=Path("data"),
        description="Folder for blobs, uploads and the SQLite database.",
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the metadata database; default sqlite in DATA_DIR, "
            "for example postgresql+psycopg://postgres@127.0.0.1:5432/seawall."
        ),
    )
    admin_password: SecretStr = Field(
        default=SecretStr(DEFAULT_ADMIN_PASSWORD),
        description="Password given to user admin when the database is first created.",
    )
    external_url: str | None = Field(
        default=None,
        description=(
            "Base URL clients use to reach the registry, such as https://registry.example; "
            "used in token challenges. Default: taken from each request's Host header."
        ),
    )
    workers: int = Field(
        default=1, ge=1, description="Number of server worker processes."
    )
    log_format: Literal["console", "json"] = Field(
        default="console", description="Log output: readable console lines or JSON."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Minimum level of log lines."
    )
    upload_expiry_seconds: int = Field(
        default=24 * 3600,
        ge=60,
        description="Age after which an idle upload is purged.",
    )
    upload_body_idle_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description=(
            "Seconds an upload request may go without receiving body data"
            " before it is aborted and its upload is freed for other requests."
        ),
    )
    max_manifest_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        description="Largest manifest accepted, in bytes.",
    )
    credential_cache_seconds: float = Field(
        default=60.0, ge=0, description="How long a verified password is remembered."
    )
    auth_failure_limit: int = Field(
        default=10,
        ge=1,
        description="Failed logins per client address per minute before 429 replies.",
    )
    upload_write_mode: Literal["direct", "writeback"] = Field(
        default="direct",
        description=(
            "How blob uploads reach the disk: direct (O_DIRECT, fastest pushes)"
            " or writeback (through the page cache with early flushing)."
        ),
    )
    upload_read_back: bool = Field(
        default=True,
        description=(
            "In direct mode, read each uploaded range back into the page cache"
            " in the background, so a pull soon after the push reads memory;"
            " costs one disk read of every pushed byte."
        ),
    )
    vulndb_source: str = Field(
        default="",
        description=(
            "Folder or URL of OSV zip files to import on a schedule;"
            " empty turns the schedule off."
        ),
    )
    vulndb_sync_interval_seconds: int = Field(
        default=86400,
        ge=60,
        description="Seconds between imports of the configured advisory source.",
    )
    scan_workers: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Scans that run at once in each server process.",
    )
    scan_max_layer_bytes: int = Field(
        default=8 * 1024**3,
        ge=1,
        description="Uncompressed bytes read from one layer before the scan stops reading it.",
    )

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if (
            not sep
            or not host
            or not re.fullmatch(r"[0-9]{1,5}", port)
            or not 0 < int(port) < 65536
        ):
            raise ValueError(f"listen must be HOST:PORT, got {value!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if not value:
            return value
        # Imported here, so that reading settings does not load SQLAlchemy
        # unless a database URL is set.
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            make_url(value).get_dialect()
        except (ArgumentError, NoSuchModuleError) as exc:
            raise ValueError(
                f"database_url is not a database URL Seawall can use ({exc}); "
                "use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DATABASE"
            ) from None
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_path = init_settings().get("config") or env_settings().get("config")
        toml = _TomlFileSource(settings_cls, Path(config_path) if config_path else None)
        return (init_settings, env_settings, toml)

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'seawall.db').resolve()}"

    @property
    def uses_default_admin_password(self) -> bool:
        return self.admin_password.get_secret_value() == DEFAULT_ADMIN_PASSWORD
