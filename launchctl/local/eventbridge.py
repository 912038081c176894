"""Plays EventBridge for moto: the events AWS's services emit in the environment's account, carried by that
account's forwarding rules to the controller's bus and by its rules to the functions they target.

moto emits no service events, forwards across accounts as if the forwarding account had sent them, and
cannot invoke a Lambda target; the rules themselves are moto's, made by the two templates, and are
matched with moto's own pattern matcher. The events' shapes are AWS's documented examples
(tests/fixtures/events). Where moto emits nothing the emitters here do it at the moment AWS would:
ECS's scheduler (launchctl.local.ecs_scheduler), a snapshot becoming available, an alarm changing state.

Faults: an event can be dropped (lost on the way, as EventBridge's "best effort" delivery allows) or
delivered twice (EventBridge delivers at least once)."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_BUS = "default"


@dataclass
class EventFault:
    """Drop or duplicate the next `times` events of a detail-type (any, when None)."""

    kind: str  # "drop" or "duplicate"
    detail_type: str | None
    times: int = 1
    fired: int = 0


@dataclass
class Delivery:
    """What became of one emitted event: forwarded by a rule of its account, and which functions it reached."""

    event: dict[str, Any]
    forwarded: bool = False
    functions: list[str] = field(default_factory=list)
    dropped: str = ""


def service_event(
    source: str, detail_type: str, account: str, region: str, resources: list[str], detail: dict[str, Any]
) -> dict[str, Any]:
    """An event as EventBridge delivers it: the envelope AWS puts around a service's detail."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": resources,
        "detail": detail,
    }


class LocalEventBridge:
    """Routes the environment account's service events to the controller's functions, as the deployed rules
    say, on a thread of its own (EventBridge invokes its targets asynchronously)."""

    def __init__(
        self,
        controller_account: str,
        region: str,
        invoke: Callable[[str, dict[str, Any]], tuple[Any, str | None]],
        retries: int = 3,
    ) -> None:
        self._controller = controller_account
        self._region = region
        self._invoke = invoke  # (function name or ARN, event) -> (payload, function error)
        self._retries = retries
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._faults: list[EventFault] = []
        self.deliveries: list[Delivery] = []
        self._idle = threading.Event()
        self._idle.set()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="local-eventbridge", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        if self._thread:
            self._thread.join(timeout=5)

    # -- faults ----------------------------------------------------------------------------------

    def drop(self, detail_type: str | None = None, times: int = 1) -> EventFault:
        """Lose the next `times` events of `detail_type` between the service and the controller."""
        return self._add(EventFault("drop", detail_type, times))

    def duplicate(self, detail_type: str | None = None, times: int = 1) -> EventFault:
        """Deliver the next `times` events of `detail_type` twice, as at-least-once delivery may."""
        return self._add(EventFault("duplicate", detail_type, times))

    def _add(self, fault: EventFault) -> EventFault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def planted(self) -> list[EventFault]:
        with self._lock:
            return [fault for fault in self._faults if fault.fired < fault.times]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def _fault_for(self, event: dict[str, Any]) -> EventFault | None:
        with self._lock:
            for fault in self._faults:
                if fault.fired < fault.times and fault.detail_type in {None, event["detail-type"]}:
                    fault.fired += 1
                    return fault
        return None

    # -- emitting and routing ----------------------------------------------------------------------

    def emit(self, event: dict[str, Any]) -> None:
        """An event a service emitted in its account; delivered later, on the bridge's thread."""
        self._idle.clear()
        self._queue.put(event)

    def settled(self, timeout: float = 5.0) -> bool:
        """Wait until every event emitted so far has been delivered (or dropped)."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            try:
                self._deliver(event)
            except Exception:  # the bridge must outlive one bad event, as EventBridge does
                logger.exception("local EventBridge could not deliver %s", event.get("detail-type"))
            if self._queue.empty():
                self._idle.set()

    def _deliver(self, event: dict[str, Any]) -> None:
        delivery = Delivery(event)
        with self._lock:
            self.deliveries.append(delivery)
        forwarded = self._forwarded(event)
        if not forwarded:
            delivery.dropped = "no rule of its account forwards it to the controller's bus"
            return
        delivery.forwarded = True
        if not self._bus_admits(event["account"]):
            delivery.dropped = "the controller's bus policy does not admit its account"
            return
        fault = self._fault_for(event)
        if fault is not None and fault.kind == "drop":
            delivery.dropped = "lost on the way (an injected fault)"
            return
        copies = 2 if fault is not None and fault.kind == "duplicate" else 1
        for target in self._targets(event):
            for _ in range(copies):
                self._invoke_with_retries(target, event)
                delivery.functions.append(target)

    def _invoke_with_retries(self, target: str, event: dict[str, Any]) -> None:
        for attempt in range(self._retries):
            payload, error = self._invoke(target, event)
            if error is None:
                return
            logger.warning("%s failed on %s (attempt %d): %s", target, event["detail-type"], attempt + 1, payload)
            time.sleep(0.2 * 2**attempt)

    def _rules(self, account: str) -> list[Any]:
        from moto.events.models import events_backends

        bus = events_backends[account][self._region].event_buses.get(DEFAULT_BUS)
        return list(bus.rules.values()) if bus is not None else []

    def _forwarded(self, event: dict[str, Any]) -> bool:
        """A rule in the event's own account matches it and targets the controller's default bus (the
        controller's own events, its executions', are on that bus already)."""
        if event["account"] == self._controller:
            return True
        bus = f"arn:aws:events:{self._region}:{self._controller}:event-bus/{DEFAULT_BUS}"
        for rule in self._rules(event["account"]):
            if rule.state != "ENABLED" or rule.scheduled_expression or not rule.event_pattern.matches_event(event):
                continue
            if any(target.get("Arn") == bus for target in rule.targets):
                return True
        return False

    def _bus_admits(self, account: str) -> bool:
        """The controller's default bus takes events from its own account, and from those its policy names."""
        from moto.events.models import events_backends

        if account == self._controller:
            return True
        policy = events_backends[self._controller][self._region].event_buses[DEFAULT_BUS].policy
        if not policy:
            return False
        for statement in json.loads(policy).get("Statement", []):
            principal = statement.get("Principal", {})
            principals = principal.get("AWS", []) if isinstance(principal, dict) else [principal]
            principals = [principals] if isinstance(principals, str) else principals
            named = {p.split(":")[4] if p.startswith("arn:") else p for p in principals}
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            if statement.get("Effect") == "Allow" and account in named and "events:PutEvents" in actions:
                return True
        return False

    def _targets(self, event: dict[str, Any]) -> list[str]:
        """The functions the controller's rules that match the event target (by ARN)."""
        targets = []
        for rule in self._rules(self._controller):
            if rule.state == "ENABLED" and not rule.scheduled_expression and rule.event_pattern.matches_event(event):
                targets += [t["Arn"] for t in rule.targets if ":lambda:" in t.get("Arn", "")]
        return targets

    def fire_schedules(self) -> list[str]:
        """What EventBridge does when a schedule comes round: each enabled scheduled rule of the controller's
        invokes its functions with a Scheduled Event, at once here; the functions invoked."""
        fired = []
        for rule in self._rules(self._controller):
            if rule.state != "ENABLED" or not rule.scheduled_expression:
                continue
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": self._controller,
                "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": self._region,
                "resources": [rule.arn],
                "detail": {},
            }
            for target in [t["Arn"] for t in rule.targets if ":lambda:" in t.get("Arn", "")]:
                self._invoke_with_retries(target, event)
                fired.append(target)
        return fired
