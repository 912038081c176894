"""Answers the Step Functions interpreter's Lambda Invoke calls with the Chalice functions, in-process."""

from __future__ import annotations

import io
import json
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import boto3
from botocore.awsrequest import AWSResponse

from launchctl.local.faults import FaultInjector, LambdaTimedOut

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

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


class LambdaBridge:
    """Maps function names to Chalice Lambda functions; AWS faults are planted through `faults`."""

    def __init__(
        self,
        functions: dict[str, Callable[[dict[str, Any], Any], Any]],
        name_prefix: str,
        faults: FaultInjector | None = None,
    ) -> None:
        self._functions = functions
        self._prefix = name_prefix
        self.faults = faults or FaultInjector()

    def function_name(self, short_name: str) -> str:
        return f"{self._prefix}{short_name}"

    def install(self) -> None:
        """Register first on boto3's default session, which the interpreter's clients come from."""
        boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register_first("before-send.lambda.Invoke", self._on_invoke)  # type: ignore[union-attr]

    def uninstall(self) -> None:
        if boto3.DEFAULT_SESSION is not None:
            boto3.DEFAULT_SESSION.events.unregister("before-send.lambda.Invoke", self._on_invoke)

    def invoke(self, name: str, event: dict[str, Any]) -> tuple[dict[str, Any] | Any, str | None]:
        """Run a function as Lambda would: (payload, function error or None)."""
        short = name.split(":")[-1] if name.startswith("arn:") else name
        short = short.removeprefix(self._prefix)
        function = self._functions.get(short)
        if function is None:
            return {"errorType": "ResourceNotFoundException", "errorMessage": f"no function {name}"}, "Unhandled"
        context = LambdaContext(
            function_name=self.function_name(short),
            invoked_function_arn=name
            if name.startswith("arn:")
            else f"arn:aws:lambda:local:000000000000:function:{name}",
            aws_request_id=str(uuid.uuid4()),
        )
        try:
            with self.faults.running(short):
                return function(event, context), None
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
        payload, function_error = self.invoke(name, event)
        headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        if function_error:
            headers["X-Amz-Function-Error"] = function_error
        return AWSResponse(request.url, 200, headers, _Body(json.dumps(payload, default=str).encode()))


def chalice_functions(app: Any) -> dict[str, Callable[[dict[str, Any], Any], Any]]:
    """The app's @app.lambda_function entry points by their Chalice names."""
    return {function.name: function for function in app.pure_lambda_functions}
