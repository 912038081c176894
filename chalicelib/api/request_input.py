"""What the API accepts before any model sees it: JSON bodies of sane shape, ids of the length AWS allows."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from chalicelib.domain.errors import BadRequest, PayloadTooLarge
from chalicelib.domain.models import LAUNCH_ID_PATTERN
from chalicelib.domain.wording import problems, shaped

Model = TypeVar("Model", bound=BaseModel)

# An Idempotency-Key: visible ASCII, as a header carries it.
IDEMPOTENCY_KEY_PATTERN = shaped(r"^[!-~]{1,255}$", "1 to 255 visible ASCII characters")

# Every request body here is a few hundred bytes; anything near this is a mistake or an attack.
MAX_BODY_BYTES = 64 * 1024
# The deepest valid body is an object holding a list of strings (depth 2); a little room, no more.
MAX_JSON_DEPTH = 8


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in JSON text, counted without parsing (no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def json_object(raw: bytes | None) -> dict[str, Any]:
    """The body as a JSON object; BadRequest on `body` for anything else: not UTF-8, not JSON, nested
    deeper than any request of this API, or not an object. Never a RecursionError."""
    raw = raw or b""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(MAX_BODY_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("body", "is not UTF-8") from None
    if json_depth(text) > MAX_JSON_DEPTH:
        raise BadRequest("body", f"nests deeper than {MAX_JSON_DEPTH} levels; no request of this API does")
    try:
        body = json.loads(text) if text.strip() else None
    except (ValueError, RecursionError):
        raise BadRequest("body", "is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body", "must be a JSON object")
    return body


def parsed(model: type[Model], data: Any) -> Model:
    """`data` as `model`; BadRequest naming each field wrong and what it must be, in words."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        found = problems(exc, model)
        raise BadRequest(*found[0], more=found[1:]) from None


def launch_id(value: str) -> str:
    """A launch id from a path: too long or malformed is the caller's mistake (400), never a key AWS refuses."""
    if not LAUNCH_ID_PATTERN.fullmatch(value):
        raise BadRequest("launch_id", "is not a launch id (8 to 80 lower-case letters, digits and dashes)")
    return value


def idempotency_key(value: str | None) -> str | None:
    """The header's key, or None without one; BadRequest for one a header cannot carry or too long."""
    if value is None:
        return None
    if not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, value):
        raise BadRequest("Idempotency-Key", "must be 1 to 255 visible ASCII characters")
    return value
