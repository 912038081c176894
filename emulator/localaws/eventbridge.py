"""Plays EventBridge for moto: the events AWS's services emit in the environment's account, carried by that
account's forwarding rules to the controller's bus and by its rules to the functions they target.

moto emits no service events, forwards across accounts as if the forwarding account had sent them, and
cannot invoke a Lambda target; the rules themselves are moto's, made by the two templates, and are
matched with moto's own pattern matcher. A forwarded event reaches the controller's bus only as its
policy admits the forwarding rule's role (account, aws:PrincipalArn and events:source conditions). The
events' shapes are AWS's documented examples
(tests/fixtures/events). Where moto emits nothing the emitters here do it at the moment AWS would:
ECS's scheduler (localaws.ecs_scheduler), a snapshot becoming available, an alarm changing state.

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


def _conditions_hold(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    """A policy statement's Condition block, for the operators a bus policy uses here (ArnLike, StringLike,
    StringEquals; each key's values are alternatives, the keys all hold); any other operator does not hold."""
    import fnmatch

    for operator, keys in conditions.items():
        for key, wanted in keys.items():
            values = wanted if isinstance(wanted, list) else [wanted]
            actual = context.get(key)
            if actual is None:
                return False
            if operator in {"ArnLike", "StringLike"}:
                held = any(fnmatch.fnmatchcase(actual, value) for value in values)
            elif operator == "StringEquals":
                held = actual in values
            else:
                return False
            if not held:
                return False
    return True


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


# Events delivered at once: EventBridge delivers each on its own, in no order, so one whose target is slow or
# retried (0.2, 0.4, 0.8 s apart) holds back no other.
DELIVERING_AT_ONCE = 8


class LocalEventBridge:
    """Routes the environment account's service events to the controller's functions, as the deployed rules
    say, asynchronously: each event is delivered on its own (EventBridge invokes its targets asynchronously,
    and one event's slow or failing target holds back no other)."""

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
        self._pending = 0  # emitted and not yet delivered (or dropped)
        self._pool: Any = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=DELIVERING_AT_ONCE, thread_name_prefix="local-eventbridge")
        self._thread = threading.Thread(target=self._run, name="local-eventbridge", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        if self._thread:
            self._thread.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

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
        """An event a service emitted in its account; delivered later, on the bridge's threads."""
        with self._lock:
            self._pending += 1
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
            self._pool.submit(self._deliver_one, event)

    def _deliver_one(self, event: dict[str, Any]) -> None:
        try:
            self._deliver(event)
        except Exception:  # the bridge must outlive one bad event, as EventBridge does
            logger.exception("local EventBridge could not deliver %s", event.get("detail-type"))
        finally:
            with self._lock:
                self._pending -= 1
                if self._pending == 0:
                    self._idle.set()

    def _deliver(self, event: dict[str, Any]) -> None:
        """As EventBridge routes a service's event: onto its account's default bus, whose rules invoke their
        functions and forward it to other buses (as the rule's role, which the receiving bus's policy must
        admit), whose rules invoke theirs."""
        delivery = Delivery(event)
        with self._lock:
            self.deliveries.append(delivery)
        targets = self._lambda_targets(event["account"], DEFAULT_BUS, event)
        refused: list[str] = []
        for bus_arn, role_arn in self._forwards(event):
            account, bus = bus_arn.split(":")[4], bus_arn.rsplit("/", 1)[1]
            why = self._bus_refuses(account, bus, event, role_arn)
            if why:
                refused.append(why)
                continue
            delivery.forwarded = True
            targets += self._lambda_targets(account, bus, event)
        # The controller's own events (its executions') are on its default bus already, whether a rule there
        # wants them or not; another account's reach the controller only when forwarded.
        if event["account"] == self._controller:
            delivery.forwarded = True
        elif not targets:
            delivery.dropped = "; ".join(refused) or "no rule of its account forwards it to the controller's bus"
            return
        fault = self._fault_for(event)
        if fault is not None and fault.kind == "drop":
            delivery.dropped = "lost on the way (an injected fault)"
            return
        copies = 2 if fault is not None and fault.kind == "duplicate" else 1
        for target in targets:
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

    def _bus(self, account: str, name: str) -> Any:
        from moto.events.models import events_backends

        return events_backends[account][self._region].event_buses.get(name)

    def _matching(self, account: str, bus: str, event: dict[str, Any]) -> list[Any]:
        found = self._bus(account, bus)
        rules = list(found.rules.values()) if found is not None else []
        return [
            rule
            for rule in rules
            if rule.state == "ENABLED" and not rule.scheduled_expression and rule.event_pattern.matches_event(event)
        ]

    def _lambda_targets(self, account: str, bus: str, event: dict[str, Any]) -> list[str]:
        """The functions the matching rules of a bus invoke (by ARN)."""
        return [
            t["Arn"] for rule in self._matching(account, bus, event) for t in rule.targets if ":lambda:" in t["Arn"]
        ]

    def _forwards(self, event: dict[str, Any]) -> list[tuple[str, str]]:
        """(bus ARN, the role it is put there as) of each rule on the event's default bus that sends it to a bus."""
        return [
            (target["Arn"], target.get("RoleArn", ""))
            for rule in self._matching(event["account"], DEFAULT_BUS, event)
            for target in rule.targets
            if ":event-bus/" in target["Arn"]
        ]

    def _bus_refuses(self, account: str, bus: str, event: dict[str, Any], role_arn: str) -> str:
        """Why the bus would not take the event put by `role_arn` (empty: it takes it). A role of the bus's own
        account puts events by its own policy; another account's, only as the bus's policy admits: the
        principal's account, the statement's conditions on aws:PrincipalArn and events:source."""
        found = self._bus(account, bus)
        if found is None:
            return f"no bus {bus} in {account}"
        if role_arn.split(":")[4:5] == [account]:
            return ""
        statements = json.loads(found.policy).get("Statement", []) if found.policy else []
        context = {"aws:PrincipalArn": role_arn, "events:source": event["source"]}
        for statement in statements:
            principal = statement.get("Principal", {})
            principals = principal.get("AWS", []) if isinstance(principal, dict) else [principal]
            principals = [principals] if isinstance(principals, str) else principals
            named = {p.split(":")[4] if p.startswith("arn:") else p for p in principals}
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            if (
                statement.get("Effect") == "Allow"
                and (role_arn.split(":")[4] in named or "*" in named)
                and "events:PutEvents" in actions
                and _conditions_hold(statement.get("Condition", {}), context)
            ):
                return ""
        return f"the controller's bus policy does not admit {role_arn or 'a rule without a role'} for {event['source']}"

    def fire_schedules(self) -> list[str]:
        """What EventBridge does when a schedule comes round: each enabled scheduled rule of the controller's
        invokes its functions with a Scheduled Event, at once here; the functions invoked."""
        fired = []
        found = self._bus(self._controller, DEFAULT_BUS)
        for rule in list(found.rules.values()) if found is not None else []:
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
