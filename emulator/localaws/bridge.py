"""Answers the Step Functions interpreter's Lambda Invoke calls with the Chalice functions, in-process."""

from __future__ import annotations

import io
import json
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import boto3
from botocore.awsrequest import AWSResponse

from chalicelib.platform.runtime import PROCESS, Runtime, running
from localaws import aws_limits
from localaws.faults import FaultInjector, LambdaTimedOut
from localaws.xray import invocation

FUNCTION_PATH_MARKER = "/functions/"


class _Body(io.BytesIO):
    """The raw body botocore reads a response from."""

    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


@dataclass
class LambdaContext:
    """The attributes of AWS's context object that the code (and Powertools) reads."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    timeout_seconds: int = 900
    deadline: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass
class LocalFunction:
    """A deployed function as the bridge runs it: its code, its container, its timeout."""

    name: str  # the app's name for it: faults and recorded calls are kept under it
    handler: Callable[[dict[str, Any], Any], Any]
    function_name: str
    arn: str = ""
    runtime: Runtime = field(default_factory=lambda: PROCESS)
    timeout_seconds: int = 900
    memory_mb: int = 512


class LambdaBridge:
    """Answers Invoke for the deployed functions, each in its own container; AWS faults are planted
    through `faults`."""

    def __init__(self, functions: list[LocalFunction], faults: FaultInjector | None = None) -> None:
        self._functions = {f.function_name: f for f in functions}
        self.faults = faults or FaultInjector()

    def install(self) -> None:
        """Register first on boto3's default session, which the interpreter's clients come from."""
        boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register_first("before-send.lambda.Invoke", self._on_invoke)

    def uninstall(self) -> None:
        if boto3.DEFAULT_SESSION is not None:
            boto3.DEFAULT_SESSION.events.unregister("before-send.lambda.Invoke", self._on_invoke)

    def invoke(self, name: str, event: dict[str, Any]) -> tuple[dict[str, Any] | Any, str | None]:
        """Run a function as Lambda would: (payload, function error or None). A function that returns after
        its timeout is reported as Lambda reports one it stopped."""
        function_name = name.split(":")[6] if name.startswith("arn:") else name
        function = self._functions.get(function_name)
        if function is None:
            return {"errorType": "ResourceNotFoundException", "errorMessage": f"no function {name}"}, "Unhandled"
        context = LambdaContext(
            function_name=function.function_name,
            invoked_function_arn=name if name.startswith("arn:") else function.arn,
            aws_request_id=str(uuid.uuid4()),
            memory_limit_in_mb=function.memory_mb,
            log_group_name=f"/aws/lambda/{function.function_name}",
            timeout_seconds=function.timeout_seconds,
            deadline=time.monotonic() + function.timeout_seconds,
        )
        try:
            with (
                running(function.runtime),
                self.faults.running(function.name),
                invocation(function.function_name, function.arn, event),
            ):
                result = function.handler(event, context)
            if context.get_remaining_time_in_millis() == 0:
                raise LambdaTimedOut(f"{function.name} ran past its {function.timeout_seconds} s timeout")
            return result, None
        except LambdaTimedOut:
            seconds = context.timeout_seconds
            return {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {context.aws_request_id} Task timed out after {seconds:.2f} seconds",
            }, "Unhandled"
        except Exception as exc:  # noqa: BLE001 - Lambda reports every exception as a function error
            return {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_exception(exc)[-5:],
            }, "Unhandled"

    def _on_invoke(self, request: Any, **_: Any) -> AWSResponse:
        path = request.url.split(FUNCTION_PATH_MARKER, 1)[1]
        name = unquote(path.split("/invocations", 1)[0])
        body = request.body or b"{}"
        event = json.loads(body.decode() if isinstance(body, bytes) else body)
        function_error: str | None
        if len(body) > aws_limits.STATE_PAYLOAD_BYTES:
            payload, function_error = _data_limit_exceeded(name, "input", len(body)), "Unhandled"
        else:
            payload, function_error = self.invoke(name, event)
        answer = json.dumps(payload, default=str).encode()
        if not function_error and len(answer) > aws_limits.STATE_PAYLOAD_BYTES:
            # The function ran; Step Functions refuses its result as the state's output.
            payload, function_error = _data_limit_exceeded(name, "output", len(answer)), "Unhandled"
            answer = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        if function_error:
            headers["X-Amz-Function-Error"] = function_error
        return AWSResponse(request.url, 200, headers, _Body(answer))


def _data_limit_exceeded(name: str, part: str, size: int) -> dict[str, Any]:
    """What Step Functions ends a state with when its input or output is past 256 KiB; kept as a refusal, so
    the test whose launch met it fails even where the state machine catches it (AWS's States.ALL does not)."""
    from localaws import model_constraints

    message = f"The state's {part} ({size:,} bytes) is past Step Functions' limit of 262,144 bytes"
    model_constraints.record("states", "Task", f"{name.rsplit(':', 1)[-1]}.{part}", message, f"{size} bytes", name)
    return {"errorType": "States.DataLimitExceeded", "errorMessage": message}


def chalice_functions(app: Any) -> dict[str, Callable[[dict[str, Any], Any], Any]]:
    """The app's @app.lambda_function entry points by their Chalice names."""
    return {function.name: function for function in app.pure_lambda_functions}
