"""JSON decoding for hostile files."""

from __future__ import annotations

import json
from typing import Any


def load_json(data: bytes) -> Any:
    """Decode JSON, raising ValueError for any malformed input.

    Deeply nested input makes the decoder raise RecursionError, which is
    reported as a ValueError like any other malformed document.
    """
    try:
        return json.loads(data.decode("utf-8-sig"))
    except RecursionError as error:
        raise ValueError("JSON nested too deeply") from error
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8: {error}") from error


def load_json_object(data: bytes) -> dict[str, Any]:
    """Decode a JSON document whose top level must be an object."""
    document = load_json(data)
    if not isinstance(document, dict):
        raise ValueError("the top level is not a JSON object")
    return document
