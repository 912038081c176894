"""What a person reads when their input is wrong: each validation error in words, never a regex or a library's.

A pattern a model checks is declared with its words (`shaped`), so a mismatch says what the value must look
like; every other kind of pydantic error is worded here, once, for the API, the CLI and the profile commands."""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

# Each pattern a model checks, with what a person is told a value must be.
PATTERN_WORDS: dict[str, str] = {}


def shaped(pattern: str, words: str) -> str:
    """`pattern`, remembered with `words` ("a commit SHA: 7 to 40 lower-case hexadecimal characters")."""
    if PATTERN_WORDS.setdefault(pattern, words) != words:
        raise ValueError(f"the pattern {pattern} is already worded as {PATTERN_WORDS[pattern]!r}")
    return pattern


def field_path(loc: Sequence[int | str]) -> str:
    """A field as a person writes it: `backend.health_checks[0].path`, `body` for the whole request."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def _one_of(expected: str) -> str:
    return f"must be one of {expected}"


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def reason(error: Any, fields: Iterable[str] = (), tables: bool = False) -> str:
    """What is wrong with one field, in words: pydantic's error details (`ValidationError.errors()`) turned
    into what the value must be. `fields` are the names a request takes, listed for a name it does not;
    `tables` says an object as TOML calls it (a profile)."""
    kind: str = error["type"]
    ctx: dict[str, Any] = error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        known = sorted(fields)
        close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1) if error["loc"] else []
        if close:
            return f"is not a field here; did you mean {close[0]}?"
        return "is not a field here" + (f"; the fields are {', '.join(known)}" if 0 < len(known) <= 12 else "")
    if kind == "string_pattern_mismatch":
        words = PATTERN_WORDS.get(ctx.get("pattern", ""))
        return f"must be {words}" if words else "is not in the form this field takes"
    if kind in {"string_too_short", "too_short"}:
        least = int(ctx.get("min_length", 1))
        if least == 1:
            return "must not be empty"
        unit = ("character", "characters") if kind == "string_too_short" else ("item", "items")
        return f"must have at least {_count(least, *unit)}"
    if kind in {"string_too_long", "too_long"}:
        unit = ("character", "characters") if kind == "string_too_long" else ("item", "items")
        return f"must have at most {_count(int(ctx['max_length']), *unit)}"
    if kind in {"literal_error", "enum"}:
        return _one_of(str(ctx.get("expected", "")))
    if kind in {"value_error", "assertion_error"}:
        return str(ctx.get("error", "is not valid")).removeprefix("Assertion failed, ")
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("more than", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"must be {words} {ctx[key]}"
    an_object = "a table" if tables else "a JSON object"
    types = {
        "string_type": "must be text",
        "string_unicode": "must be text",
        "int_type": "must be a whole number",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "list_type": "must be a list",
        "tuple_type": "must be a list",
        "set_type": "must be a list",
        "dict_type": f"must be {an_object}",
        "model_type": f"must be {an_object}",
        "model_attributes_type": f"must be {an_object}",
        "url_type": "must be a URL",
        "url_parsing": "must be a full URL, like https://example.com/path",
        "url_scheme": "must be a URL starting with " + str(ctx.get("expected_schemes", "https")),
        "datetime_type": "must be a date and time (ISO 8601, like 2026-01-31T09:00:00Z)",
        "datetime_parsing": "must be a date and time (ISO 8601, like 2026-01-31T09:00:00Z)",
        "datetime_from_date_parsing": "must be a date and time (ISO 8601, like 2026-01-31T09:00:00Z)",
        "date_type": "must be a date (like 2026-01-31)",
        "date_parsing": "must be a date (like 2026-01-31)",
        "json_invalid": "is not valid JSON",
        "json_type": "must be JSON text",
        "none_required": "must be left out",
    }
    return types.get(kind, "is not valid")


def _model_at(model: type[BaseModel] | None, loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model that holds the field at `loc` (through lists, tables and optional fields), if one does."""
    annotation: Any = model
    for part in loc:
        holder = _inner_model(annotation)
        if isinstance(part, str) and holder is not None and _unwrapped(annotation) is holder:
            field = holder.model_fields.get(part)
            if field is None:
                return None
            annotation = field.annotation
        else:  # a list's index or a table's key: the same type's items
            args = typing.get_args(_unwrapped(annotation))
            annotation = args[-1] if args else None
    found = _inner_model(annotation)
    return found if found is not None and _unwrapped(annotation) is found else None


def _unwrapped(annotation: Any) -> Any:
    """An Optional's type (X | None), else the annotation itself."""
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if type(None) in typing.get_args(annotation) and len(args) == 1:
        return args[0]
    return annotation


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    annotation = _unwrapped(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def problems(exc: ValidationError, model: type[BaseModel] | None = None, tables: bool = False) -> list[tuple[str, str]]:
    """Each field wrong and why, as (field, reason), the fields the holding model takes named for one it
    does not take."""
    found = []
    for error in exc.errors():
        holder = _model_at(model, error["loc"][:-1]) if error["type"] == "extra_forbidden" else None
        found.append((field_path(error["loc"]), reason(error, holder.model_fields if holder else (), tables)))
    return found


def in_words(exc: ValidationError, model: type[BaseModel] | None = None, tables: bool = False) -> str:
    """Every problem on one line: `git_sha: must be a commit SHA ...; version: is required`."""
    return "; ".join(f"{field}: {why}" for field, why in problems(exc, model, tables))
