"""Command-line options that mirror the settings object, shared by commands."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Literal, get_args, get_origin

import click
from pydantic import SecretStr, ValidationError

from seawall.settings import Settings

_CLICK_TYPES: dict[object, click.types.ParamType[Any]] = {
    int: click.INT,
    float: click.FLOAT,
}


# The settings that commands working on the database alone accept.
DATABASE_SETTINGS = ("config", "data_dir", "database_url", "log_format", "log_level")


def settings_options(command: Any) -> Any:
    """Add one `--option` per settings field, with its variable and description."""
    return _add_options(command, tuple(Settings.model_fields))


def settings_options_for(*names: str) -> Callable[[Any], Any]:
    """Return a decorator that adds the `--option`s of the settings in `names` only.

    Settings left out still come from the environment and the config file.
    """
    unknown = set(names) - set(Settings.model_fields)
    if unknown:
        raise ValueError(f"not settings: {', '.join(sorted(unknown))}")

    def decorate(command: Any) -> Any:
        return _add_options(command, names)

    return decorate


def _add_options(command: Any, names: tuple[str, ...]) -> Any:
    fields = Settings.model_fields
    for name in reversed([name for name in fields if name in names]):
        field = fields[name]
        env = f"SEAWALL_{name.upper()}"
        default = field.default
        if isinstance(default, SecretStr):
            default = "(hidden)"
        elif default is None:
            default = "not set"
        help_text = f"{field.description} [env {env}; default {default}]"
        option_type = _CLICK_TYPES.get(field.annotation)
        command = click.option(
            f"--{name.replace('_', '-')}",
            name,
            default=None,
            type=option_type,
            metavar=_metavar(field.annotation),
            help=help_text,
        )(command)
    return command


def _metavar(annotation: object) -> str | None:
    """Name the accepted values of a setting in `--help`; None keeps click's own.

    The values are checked when the settings object is built, so an invalid
    one gets the same message from an option, a variable or the config file.
    """
    if get_origin(annotation) is Literal:
        return "[" + "|".join(str(value) for value in get_args(annotation)) + "]"
    if annotation is bool:
        return "[true|false]"
    return None


def describe_invalid_settings(
    error: ValidationError, config_path: str | None = None
) -> str:
    """Return one line per invalid setting, with its option, variable and value."""
    lines = []
    for problem in error.errors(include_url=False):
        name = ".".join(str(part) for part in problem["loc"]) or "settings"
        if problem["type"] == "extra_forbidden":
            # Options and variables name only known settings, so an unknown
            # key can come from the config file alone.
            source = f"config file {config_path}" if config_path else "config file"
            lines.append(f"{source}: unknown setting {name!r}")
            continue
        option = f"--{name.replace('_', '-')} (SEAWALL_{name.upper()})"
        message = problem["msg"].removeprefix("Value error, ")
        input_value = problem.get("input")
        # A database URL may contain a password, so its value is not shown.
        if (
            isinstance(input_value, str | int | float)
            and name != "database_url"
            and repr(input_value) not in message
        ):
            message += f": got {input_value!r}"
        lines.append(f"{option}: {message}")
    return "invalid settings:\n" + "\n".join(lines)


def load_settings(given: dict[str, Any]) -> Settings:
    values = {key: value for key, value in given.items() if value is not None}
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        config_path = values.get("config") or os.environ.get("SEAWALL_CONFIG")
        raise click.UsageError(describe_invalid_settings(exc, config_path)) from exc
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    # Worker processes rebuild their settings from the environment, so
    # command-line values are passed on as variables.
    for key, value in values.items():
        os.environ[f"SEAWALL_{key.upper()}"] = str(value)
    return settings
