"""X-Ray's part locally: a segment per invocation, as Lambda's, and every trace document the SDK sends, kept.

On AWS, Lambda opens each invocation's segment and the SDK sends the function's subsegments to the X-Ray
daemon. Here the stack opens the segment around each function it runs (the functions' own Powertools
Tracer records into it, as on AWS) and the SDK's emitter is this collector, which keeps the documents in
order and writes each as a JSON line to a file a person can read."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class LocalTraces:
    """The trace documents the functions' X-Ray SDK sent, oldest first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._documents: list[dict[str, Any]] = []

    def start(self) -> LocalTraces:
        """Make the process's X-Ray recorder send here, every invocation sampled; a call made outside a
        function (the tests' own, moto's) has no segment and is not recorded."""
        from aws_xray_sdk.core import xray_recorder
        from aws_xray_sdk.core.context import Context

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")
        xray_recorder.configure(
            sampling=False,
            context=Context(context_missing="IGNORE_ERROR"),
            context_missing="IGNORE_ERROR",
            emitter=_Emitter(self),
            service="launch-controller",
        )
        # The SDK warns of each call made without a segment: the tests' and moto's, expected here.
        logging.getLogger("aws_xray_sdk").setLevel(logging.ERROR)
        return self

    def keep(self, document: dict[str, Any]) -> None:
        with self._lock:
            self._documents.append(document)
            with self.path.open("a") as lines:
                lines.write(json.dumps(document, separators=(",", ":")) + "\n")

    def documents(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._documents)

    def of_launch(self, launch_id: str) -> list[dict[str, Any]]:
        """Every segment and subsegment of the launch's trace, nested ones included, flattened."""
        trace_id = trace_id_of(launch_id)
        found: list[dict[str, Any]] = []
        for document in self.documents():
            if document.get("trace_id") == trace_id:
                found.extend(_flattened(document))
        return found

    def annotated_with(self, launch_id: str) -> list[dict[str, Any]]:
        """The subsegments of any trace annotated with the launch (an API request, an event's handler)."""
        return [
            entity
            for document in self.documents()
            for entity in _flattened(document)
            if entity.get("annotations", {}).get("launch_id") == launch_id
        ]


@contextmanager
def invocation(function_name: str, function_arn: str, event: Any) -> Iterator[None]:
    """Lambda's segment around one invocation: a launch's invocations share the launch's trace, as a Step
    Functions execution's do on AWS; any other invocation (an API request, an event) starts its own."""
    from aws_xray_sdk import global_sdk_config
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.core.models.traceid import TraceId

    if not global_sdk_config.sdk_enabled():
        yield
        return
    launch_id = event.get("launch_id") if isinstance(event, dict) else None
    trace_id = trace_id_of(launch_id) if isinstance(launch_id, str) else TraceId().to_id()
    segment = xray_recorder.begin_segment(name=function_name, traceid=trace_id, sampling=1)
    segment.origin = "AWS::Lambda::Function"
    segment.set_aws({"function_arn": function_arn})
    try:
        yield
    finally:
        xray_recorder.end_segment()


def trace_id_of(launch_id: str) -> str:
    """The launch's trace id, the same for each of its invocations (X-Ray's shape: 1-<8 hex>-<24 hex>)."""
    digest = hashlib.sha256(launch_id.encode()).hexdigest()
    return f"1-{digest[:8]}-{digest[8:32]}"


class _Emitter:
    """The SDK's emitter interface (send_entity, set_daemon_address), sending to the collector."""

    def __init__(self, traces: LocalTraces) -> None:
        self._traces = traces

    def send_entity(self, entity: Any) -> None:
        self._traces.keep(json.loads(entity.serialize()))

    def set_daemon_address(self, address: str | None) -> None:
        return


def _flattened(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield document
    for child in document.get("subsegments", []):
        yield from _flattened(child)
