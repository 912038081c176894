"""Makes the stage Lambdas' AWS calls fail the way AWS calls fail, for the fault tests and `make demo`.

A fault names a function (its Chalice name), an operation (`ecs.UpdateService`, as botocore names
events) and a kind:
- `throttle`: AWS answers with its throttling error; botocore's standard retry mode should absorb it.
- `error`: AWS refuses the call (AccessDenied); the stage sees a ClientError.
- `timeout`: the call succeeds, then Lambda kills the function at its timeout; nothing of the
  function runs after that call, and Step Functions sees `Sandbox.Timedout`.
Only calls made while that function runs are touched: the API and the tests' own clients are not."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

from botocore.awsrequest import AWSResponse

from localaws import iam_calls
from localaws.iam_calls import Account
from localaws.infrastructure import ACCOUNT_ID, REGION

FaultKind = Literal["throttle", "error", "timeout"]
# What a function does in an environment's account, as its role there, is recorded under this suffix.
ENVIRONMENT_SUFFIX = "@environment"


class LambdaTimedOut(BaseException):
    """Lambda ending a function at its timeout. BaseException, so no `except Exception` in the code stops it."""


@dataclass
class Fault:
    function: str
    operation: str
    kind: FaultKind
    times: int = 1
    after: int = 0  # let this many matching calls through first
    fired: int = 0
    passed: int = 0


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data

    def read(self, *_: Any) -> bytes:
        return self._data


class FaultInjector:
    """Holds the planned faults and counts, per function, every AWS call that succeeded."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        # A context variable, not a thread-local: work a function hands to its own threads (the preflight
        # checks run in a pool, each in a copy of the caller's context) still counts as that function's.
        self._running: ContextVar[str | None] = ContextVar(f"fault-function-{id(self)}", default=None)
        self.calls: Counter[tuple[str, str]] = Counter()
        # The functions' calls under way at once, by service, now and at most (the benchmarks' "in flight").
        self.in_flight: Counter[str] = Counter()
        self.most_in_flight: Counter[str] = Counter()
        # What IAM checked for every call each function attempted, answered or refused: (function, action,
        # resource), which its policy must grant.
        self.attempted: set[tuple[str, str, str]] = set()
        self._account = Account(REGION, ACCOUNT_ID)

    def install(self, session: Any, role_arn: str | None = None) -> None:
        """Hook every client the session makes from now on (register before the clients exist). A session
        acting as an environment's role (`role_arn`) records its calls as `<function>@environment`, judged
        by that role's policy for the function, in that role's account."""
        account = self._account if role_arn is None else Account(REGION, role_arn.split(":")[4])
        suffix = "" if role_arn is None else ENVIRONMENT_SUFFIX

        def before_parameter_build(params: dict[str, Any], event_name: str, **_: Any) -> None:
            self._before_parameter_build(params, event_name, account, suffix)

        session.events.register_first("before-parameter-build", before_parameter_build)
        session.events.register_first("before-send", self._before_send)
        session.events.register_first("after-call", self._after_call)
        session.events.register_first("response-received", self._response_received)

    def add(self, function: str, operation: str, kind: FaultKind, times: int = 1, after: int = 0) -> Fault:
        fault = Fault(function, operation, kind, times, after)
        with self._lock:
            self._faults.append(fault)
        return fault

    def planted(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.calls.clear()
            self.most_in_flight.clear()

    def take_most_in_flight(self, service: str) -> int:
        """The most of the functions' calls to `service` under way at once since last asked (counting
        starts again from those under way now)."""
        with self._lock:
            most = self.most_in_flight[service]
            self.most_in_flight[service] = self.in_flight[service]
            return most

    @contextmanager
    def running(self, function: str) -> Iterator[None]:
        """Mark the current context as running `function` (the bridge calls functions this way)."""
        token = self._running.set(function)
        try:
            yield
        finally:
            self._running.reset(token)

    def _take(self, operation: str, kinds: set[str]) -> Fault | None:
        function = self._running.get()
        if function is None:
            return None
        with self._lock:
            for fault in self._faults:
                if (
                    fault.function == function
                    and fault.operation == operation
                    and fault.kind in kinds
                    and fault.fired < fault.times
                ):
                    if fault.passed < fault.after:
                        fault.passed += 1
                        return None
                    fault.fired += 1
                    return fault
        return None

    def _before_parameter_build(self, params: dict[str, Any], event_name: str, account: Account, suffix: str) -> None:
        function = self._running.get()
        if function is not None:
            asked = iam_calls.needs(event_name.split(".", 1)[1], params, account)
            with self._lock:
                self.attempted.update((function + suffix, action, resource) for action, resource in asked)

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        operation = event_name.split(".", 1)[1]
        if self._running.get() is not None:
            service = operation.split(".", 1)[0]
            with self._lock:
                self.in_flight[service] += 1
                self.most_in_flight[service] = max(self.most_in_flight[service], self.in_flight[service])
        fault = self._take(operation, {"throttle", "error"})
        if fault is None:
            return None
        return error_response(request, operation.split(".", 1)[0], throttle=fault.kind == "throttle")

    def _response_received(self, event_name: str, **_: Any) -> None:
        """Each attempt's end, answered or not (botocore emits it for every try that `before-send` began)."""
        if self._running.get() is not None:
            with self._lock:
                self.in_flight[event_name.split(".")[1]] -= 1

    def _after_call(self, event_name: str, http_response: Any, **_: Any) -> None:
        function = self._running.get()
        if function is None or http_response.status_code >= 300:
            return
        operation = event_name.split(".", 1)[1]
        with self._lock:
            self.calls[(function, operation)] += 1
        if self._take(operation, {"timeout"}) is not None:
            raise LambdaTimedOut(f"{function} timed out after {operation}")


# The services the functions call whose protocol is REST with JSON bodies (their errors: a JSON body and
# the code in `x-amzn-ErrorType`).
REST_JSON = {"cloudfront-keyvaluestore"}


def error_response(request: Any, service: str, throttle: bool) -> AWSResponse:
    """The error AWS answers for this request's protocol: throttling (retryable) or access denied."""
    headers = {
        key.lower(): value.decode() if isinstance(value, bytes) else value for key, value in request.headers.items()
    }
    content_type = headers.get("content-type", "")
    smithy = headers.get("smithy-protocol", "")
    message = "Rate exceeded" if throttle else "User is not authorized to perform this action"
    if smithy == "rpc-v2-cbor":
        code = "ThrottlingException" if throttle else "AccessDeniedException"
        body = cbor_text_map({"__type": code, "message": message})
        return _response(request, 400, {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"}, body)
    if content_type.startswith("application/x-amz-json"):
        code = "ThrottlingException" if throttle else "AccessDeniedException"
        body = json.dumps({"__type": code, "message": message}).encode()
        return _response(request, 400, {"Content-Type": content_type, "x-amzn-ErrorType": code}, body)
    if service in REST_JSON:
        code, status = ("ThrottlingException", 429) if throttle else ("AccessDeniedException", 403)
        body = json.dumps({"message": message}).encode()
        return _response(request, status, {"Content-Type": "application/json", "x-amzn-ErrorType": code}, body)
    if service == "s3":
        code, status = ("SlowDown", 503) if throttle else ("AccessDenied", 403)
        text = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault</RequestId></Error>"
        return _response(request, status, {"Content-Type": "application/xml"}, text.encode())
    code, status = ("Throttling", 400) if throttle else ("AccessDenied", 403)
    text = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>fault</RequestId></ErrorResponse>"
    )
    return _response(request, status, {"Content-Type": "text/xml"}, text.encode())


def _response(request: Any, status: int, headers: dict[str, str], body: bytes) -> AWSResponse:
    return AWSResponse(request.url, status, {"x-amzn-RequestId": "fault", **headers}, _Body(body))


def cbor_text_map(values: dict[str, str]) -> bytes:
    """The CBOR encoding of a small map of text to text (all an RPCv2 error body needs)."""

    def head(major: int, length: int) -> bytes:
        if length < 24:
            return bytes([major << 5 | length])
        if length < 256:
            return bytes([major << 5 | 24, length])
        return bytes([major << 5 | 25]) + length.to_bytes(2, "big")

    encoded = head(5, len(values))
    for key, value in values.items():
        for text in (key, value):
            data = text.encode()
            encoded += head(3, len(data)) + data
    return encoded
