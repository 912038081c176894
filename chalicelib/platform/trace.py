"""The functions' traces (Powertools Tracer over X-Ray): each invocation, its launch and stage, its AWS calls.

X-Ray is on for the functions, the API and the state machine (the template). The tracer is made at the first
traced invocation, not at import: a function's cold start does not pay for the X-Ray SDK before it runs, and
outside Lambda (no LAMBDA_TASK_ROOT, as Powertools decides) none is made, so nothing is patched or sent."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from chalicelib.platform import runtime

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

SERVICE = "launch-controller"
# Only AWS's calls are captured: the smoke test's HTTP to the site is the site's, and a trace of it would
# keep its URLs, which may carry a credential.
PATCHED = ("botocore",)
# What a trace may be searched by (X-Ray indexes annotations); never a token, a link or a secret.
ANNOTATED = ("launch_id", "stage", "step", "environment", "caller", "resource")


_made: list[Tracer] = []
_making = threading.Lock()


def _tracer() -> Tracer | None:
    """The tracer, where Lambda runs the function (its LAMBDA_TASK_ROOT) and tracing is not turned off."""
    environ = runtime.environ()
    if not environ.get("LAMBDA_TASK_ROOT") or environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() == "true":
        return None
    with _making:
        if not _made:
            from aws_lambda_powertools import Tracer  # X-Ray's SDK: only where Lambda runs the function

            _made.append(Tracer(service=SERVICE, patch_modules=list(PATCHED)))
        return _made[0]


def _traceable() -> Tracer | None:
    """The tracer when this invocation has a segment to record into (Lambda always gives one)."""
    tracer = _tracer()
    recorder: Any = tracer.provider if tracer else None  # X-Ray's recorder
    if tracer is None or recorder.get_trace_entity() is None:
        return None
    return tracer


def traced_function(handler: Callable[[dict[str, Any], Any], Any]) -> Callable[[dict[str, Any], Any], Any]:
    """A stage function's handler with Powertools' handler subsegment (cold start, service, the error)."""

    @functools.wraps(handler)
    def wrapper(event: dict[str, Any], context: Any) -> Any:
        tracer = _traceable()
        if tracer is None:
            return handler(event, context)
        # The answer is the launch's progress, kept in DynamoDB already: not copied into the trace.
        return tracer.capture_lambda_handler(handler, capture_response=False)(event, context)

    return wrapper


@contextmanager
def traced(name: str) -> Iterator[None]:
    """A subsegment named `name` around the block: an API request, or an event handler's invocation."""
    tracer = _traceable()
    if tracer is None:
        yield
        return
    with tracer.provider.in_subsegment(name=f"## {name}"):
        yield


def annotate(**keys: str | None) -> None:
    """Annotate the current subsegment with the searchable `keys` given a value (others are ignored)."""
    tracer = _traceable()
    recorder: Any = tracer.provider if tracer else None
    if tracer is None or recorder.current_subsegment() is None:
        return
    for key, value in keys.items():
        if value and key in ANNOTATED:
            tracer.put_annotation(key=key, value=value)
