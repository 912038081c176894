"""The launch state machine's definition and its ${XFunctionArn} placeholders, for the stack and the template."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

ASL_PATH = Path(__file__).resolve().parents[2] / "statemachines" / "launch.asl.json"
_PLACEHOLDER = re.compile(r"\$\{(\w+)FunctionArn\}")


def resource_names(definition: str) -> list[str]:
    """`RecordRollbackPoint` for each `${RecordRollbackPointFunctionArn}`: Chalice's resource names, sorted."""
    return sorted(set(_PLACEHOLDER.findall(definition)))


def function_name(resource: str) -> str:
    """`RecordRollbackPoint` -> `record_rollback_point`, the Chalice function's name."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", resource).lower()


def bind_definition(definition: str, arn_for: Callable[[str], str]) -> str:
    """Replace each ${XFunctionArn} with the ARN `arn_for` gives for the Chalice function's name."""
    return _PLACEHOLDER.sub(lambda match: arn_for(function_name(match.group(1))), definition)
