"""The `upload_body_idle_timeout_seconds` setting: default, sources and validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from seawall.cli.serve import serve
from seawall.settings import Settings

VARIABLE = "SEAWALL_UPLOAD_BODY_IDLE_TIMEOUT_SECONDS"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Drop inherited `SEAWALL_*` variables and run from an empty folder."""
    for name in Settings.model_fields:
        monkeypatch.delenv(f"SEAWALL_{name.upper()}", raising=False)
    monkeypatch.chdir(tmp_path)


def test_default_one_minute() -> None:
    assert Settings().upload_body_idle_timeout_seconds == 60.0


@pytest.mark.parametrize(("value", "expected"), [("5", 5.0), ("0.5", 0.5)])
def test_read_from_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: float
) -> None:
    monkeypatch.setenv(VARIABLE, value)
    assert Settings().upload_body_idle_timeout_seconds == expected


def test_read_from_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "seawall.toml"
    path.write_text("upload_body_idle_timeout_seconds = 15\n")
    monkeypatch.setenv("SEAWALL_CONFIG", str(path))
    assert Settings().upload_body_idle_timeout_seconds == 15.0


@pytest.mark.parametrize("value", [0, -1, -0.5])
def test_not_positive_rejected(value: float) -> None:
    values: dict[str, Any] = {"upload_body_idle_timeout_seconds": value}
    with pytest.raises(ValidationError, match="upload_body_idle_timeout_seconds"):
        Settings(**values)


def test_not_a_number_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, "one minute")
    with pytest.raises(ValidationError, match="upload_body_idle_timeout_seconds"):
        Settings()


def test_serve_option_listed() -> None:
    result = CliRunner().invoke(serve, ["--help"])
    assert result.exit_code == 0, result.output
    assert "--upload-body-idle-timeout-seconds" in result.output
    assert VARIABLE in result.output
