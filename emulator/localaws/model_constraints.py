"""Every AWS call made in this process checked against its service model's documented constraints (`min`,
`max`, `pattern`, `enum`), which AWS enforces on its side and botocore does not check before sending.

A call that breaks one is refused as the service refuses it (`ValidationException` or `ValidationError`,
"1 validation error detected: Value '...' at '...' failed to satisfy constraint: ...") and kept in
`violations`, so the test that made it fails even when the code under test caught the error and went on.
The local stack and the test suite install it; nothing of it is packaged."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

_ROOT = str(Path(__file__).resolve().parents[2]) + "/"
_lock = threading.Lock()
_installed = 0
_original: Any = None
violations: list[Violation] = []

# How each protocol names a request that breaks its model: the JSON services' ValidationException, the query
# services' ValidationError (IAM, STS, CloudFormation, CloudWatch, SNS, RDS), EC2's InvalidParameterValue.
_CODE_OF_PROTOCOL = {
    "json": "ValidationException",
    "rest-json": "ValidationException",
    "smithy-rpc-v2-cbor": "ValidationException",
    "query": "ValidationError",
    "rest-xml": "InvalidArgument",
    "ec2": "InvalidParameterValue",
}


@dataclass(frozen=True)
class Violation:
    """One member of one call that its model does not allow, and where in our code the call came from."""

    service: str
    operation: str
    member: str  # as AWS names it in its message: `roleSessionName`, `policyArns.1.member.arn`
    constraint: str  # AWS's words: "Member must have length less than or equal to 64"
    value: str
    caller: str  # the innermost frame of this repository's code that made the call

    def message(self) -> str:
        return f"Value '{self.value}' at '{self.member}' failed to satisfy constraint: {self.constraint}"

    def __str__(self) -> str:
        return f"{self.service}.{self.operation} from {self.caller}: {self.message()}"


@cache
def _compiled(pattern: str) -> Any:
    """A model's pattern as AWS reads it (Java's syntax: `\\p{L}`, surrogate pairs), with the `regex`
    module, which has the Unicode classes Python's `re` lacks."""
    import regex

    # Java writes the astral planes as a surrogate pair range; regex takes the code points.
    readable = pattern.replace("\\uD800\\uDC00-\\uDBFF\\uDFFF", "\\U00010000-\\U0010FFFF")
    return regex.compile(readable)


def _member_name(name: str) -> str:
    """AWS's messages name a member with a lower-case first letter (`roleSessionName`)."""
    return name[:1].lower() + name[1:]


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def check(operation_model: Any, params: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The members of `params` that break `operation_model`'s input constraints: (member, constraint, value)."""
    found: list[tuple[str, str, str]] = []
    if operation_model.input_shape is not None:
        _check_shape(operation_model.input_shape, params, "", found)
    return found


def _check_shape(shape: Any, value: Any, path: str, found: list[tuple[str, str, str]]) -> None:
    if shape.metadata.get("streaming") or value is None:
        return
    kind = shape.type_name
    metadata = shape.metadata
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                inner = f"{path}.{_member_name(name)}" if path else _member_name(name)
                _check_shape(member, value[name], inner, found)
        return
    if kind == "list" and isinstance(value, list | tuple):
        _length(metadata, len(value), path, value, found)
        for index, item in enumerate(value, start=1):
            _check_shape(shape.member, item, f"{path}.{index}.member", found)
        return
    if kind == "map" and isinstance(value, dict):
        _length(metadata, len(value), path, value, found)
        for key, item in value.items():
            _check_shape(shape.key, key, f"{path}.key", found)
            _check_shape(shape.value, item, f"{path}.{key}", found)
        return
    if kind == "string" and isinstance(value, str):
        _length(metadata, len(value), path, value, found)
        pattern = metadata.get("pattern")
        if pattern and _compiled(pattern).fullmatch(value) is None:
            found.append((path, f"Member must satisfy regular expression pattern: {pattern}", _shown(value)))
        if shape.enum and value not in shape.enum:
            found.append((path, f"Member must satisfy enum value set: [{', '.join(shape.enum)}]", _shown(value)))
        return
    if kind == "blob" and isinstance(value, bytes | bytearray | str):
        size = len(value.encode() if isinstance(value, str) else value)
        _length(metadata, size, path, value, found)
        return
    if (
        kind in {"integer", "long", "float", "double"}
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        if "min" in metadata and value < metadata["min"]:
            found.append((path, f"Member must have value greater than or equal to {metadata['min']}", _shown(value)))
        if "max" in metadata and value > metadata["max"]:
            found.append((path, f"Member must have value less than or equal to {metadata['max']}", _shown(value)))


def _length(metadata: dict[str, Any], size: int, path: str, value: Any, found: list[tuple[str, str, str]]) -> None:
    if "min" in metadata and size < metadata["min"]:
        found.append((path, f"Member must have length greater than or equal to {metadata['min']}", _shown(value)))
    if "max" in metadata and size > metadata["max"]:
        found.append((path, f"Member must have length less than or equal to {metadata['max']}", _shown(value)))


def _caller() -> str | None:
    """The innermost frame of this repository's own code that led to the call, if any did: a call that
    moto itself makes (its Step Functions interpreter invoking a function) is AWS's, not ours."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(_ROOT) and "/site-packages/" not in name and not name.endswith("model_constraints.py"):
            return f"{name[len(_ROOT) :]}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return None


def refusal(client: Any, operation_name: str, found: list[tuple[str, str, str]]) -> Exception:
    """The error the service answers for a request its model refuses, as botocore raises it."""
    protocol = client.meta.service_model.metadata.get("protocol", "json")
    code = _CODE_OF_PROTOCOL.get(protocol, "ValidationException")
    count = len(found)
    details = "; ".join(
        f"Value '{value}' at '{member}' failed to satisfy constraint: {rule}" for member, rule, value in found
    )
    message = f"{count} validation error{'s' if count > 1 else ''} detected: {details}"
    response = {
        "Error": {"Code": code, "Message": message, "Type": "Sender"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    error: Exception = client.exceptions.from_code(code)(response, operation_name)
    return error


def install() -> None:
    """Check every call of every client in this process from now on; counted, as the local stacks come
    and go in one test process."""
    global _installed, _original
    from botocore.client import BaseClient

    with _lock:
        _installed += 1
        if _original is not None:
            return
        _original = BaseClient._make_api_call

        def make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            caller = _caller() if _installed else None
            if caller is not None:
                operation = self.meta.service_model.operation_model(operation_name)
                found = check(operation, api_params)
                if found:
                    service = self.meta.service_model.service_name
                    with _lock:
                        violations.extend(
                            Violation(service, operation_name, member, rule, value, caller)
                            for member, rule, value in found
                        )
                    raise refusal(self, operation_name, found)
            return _original(self, operation_name, api_params)

        BaseClient._make_api_call = make_api_call


def uninstall() -> None:
    """One installer fewer; the last one restores botocore."""
    global _installed, _original
    from botocore.client import BaseClient

    with _lock:
        _installed = max(0, _installed - 1)
        if _installed == 0 and _original is not None:
            BaseClient._make_api_call = _original
            _original = None


def record(service: str, operation: str, member: str, constraint: str, value: str, caller: str) -> None:
    """Keep something AWS would refuse that the local stack met outside a client's call (a state's output past
    Step Functions' payload limit), so the test that caused it fails as well."""
    with _lock:
        violations.append(Violation(service, operation, member, constraint, _shown(value), caller))


def taken() -> list[Violation]:
    """The violations so far, forgotten here (a test takes those its calls made)."""
    with _lock:
        kept = list(violations)
        violations.clear()
    return kept
