"""Command-line options that mirror the settings object, shared by commands."""

from __future__ import annotations

import os
from typing import Any

import click
from pydantic import SecretStr, ValidationError

from seawall.settings import Settings

_CLICK_TYPES: dict[object, click.types.ParamType[Any]] = {
    int: click.INT,
    float: click.FLOAT,
}


def settings_options(command: Any) -> Any:
    """Add one `--option` per settings field, with its variable and description."""
    for name, field in reversed(Settings.model_fields.items()):
        env = f"SEAWALL_{name.upper()}"
        default = field.default
        if isinstance(default, SecretStr):
            default = "(hidden)"
        help_text = f"{field.description} [env {env}; default {default}]"
        option_type = _CLICK_TYPES.get(field.annotation)
        command = click.option(
            f"--{name.replace('_', '-')}",
            name,
            default=None,
            type=option_type,
            help=help_text,
        )(command)
    return command


def load_settings(given: dict[str, Any]) -> Settings:
    values = {key: value for key, value in given.items() if value is not None}
    try:
        settings = Settings(**values)
    except (ValidationError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    # Worker processes rebuild their settings from the environment, so
    # command-line values are passed on as variables.
    for key, value in values.items():
        os.environ[f"SEAWALL_{key.upper()}"] = str(value)
    return settings
