"""ECS's CANARY and LINEAR deployment strategies, played for the local scheduler: the release's tasks behind the
service's alternate target group, production traffic moved to it in steps, and the lifecycle hooks invoked at
every step as ECS's documentation describes them.

At each step (PRODUCTION_TRAFFIC_SHIFT) every hook configured for that stage is invoked with the service, the
target service revision, both revisions' production traffic weights and the hook's `hookDetails`. A hook
answering IN_PROGRESS is invoked again after its `callBackDelay` (30 s if it gives none); SUCCEEDED moves on
to the next step, after the strategy's bake; FAILED, an answer without a valid `hookStatus`, or a hook that
fails, rolls the deployment back: the traffic returns to the old revision (the hooks are invoked once more for
that shift, as ECS does on a rollback), and the deployment fails. Once every step succeeded, the alternate
target group is the production one: the two swap places for the next deployment."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_CALLBACK_SECONDS = 30
HOOK_STATUSES = {"IN_PROGRESS", "SUCCEEDED", "FAILED"}
Hook = Callable[[str, dict[str, Any]], dict[str, Any] | None]  # (hook target ARN, payload) -> the hook's answer


def steps_of(configuration: dict[str, Any]) -> list[float] | None:
    """The production traffic the release has at each step, in percent; None for a strategy without steps."""
    strategy = configuration.get("strategy", "ROLLING")
    if strategy == "CANARY":
        canary = float(configuration.get("canaryConfiguration", {}).get("canaryPercent", 5.0))
        return [canary, 100.0] if canary < 100 else [100.0]
    if strategy == "LINEAR":
        step = float(configuration.get("linearConfiguration", {}).get("stepPercent", 10.0))
        weights, weight = [], 0.0
        while weight < 100:
            weight = min(100.0, round(weight + step, 1))
            weights.append(weight)
        return weights
    return None


def bake_seconds(configuration: dict[str, Any], minutes_as_seconds: float) -> float:
    """The strategy's wait after each step but the last (`minutes_as_seconds`: how long a minute is here)."""
    strategy = configuration.get("strategy")
    if strategy == "CANARY":
        minutes = configuration.get("canaryConfiguration", {}).get("canaryBakeTimeInMinutes", 10)
    else:
        minutes = configuration.get("linearConfiguration", {}).get("stepBakeTimeInMinutes", 6)
    return float(minutes) * minutes_as_seconds


@dataclass
class TrafficShift:
    """One deployment's traffic moving in steps from the old revision's target group to the release's."""

    service_arn: str
    new_revision: str
    old_revision: str
    new_target_group: str
    old_target_group: str
    steps: list[float]
    bake: float
    hooks: list[dict[str, Any]]
    old_task_definition: str = ""
    new_task_definition: str = ""
    index: int = 0
    weight: float = 0.0  # the release's share of production traffic now
    due: float = field(default_factory=time.monotonic)  # when the next hook invocation (or step) is due
    rolling_back: bool = False
    outcome: str | None = None  # "COMPLETED" or "FAILED" once decided
    reason: str = ""
    concluded: bool = False  # the service told of the outcome

    def shifted(self) -> dict[str, float]:
        return {self.new_revision: self.weight, self.old_revision: round(100.0 - self.weight, 1)}

    def advance(self, invoke: Hook) -> None:
        """One look: if a hook's invocation or the next step is due, do it."""
        if self.outcome is not None or time.monotonic() < self.due:
            return
        if self.weight != self.steps[self.index]:
            self.weight = self.steps[self.index]  # the step's shift itself: the load balancer's weights
        answers = [self._invoke(invoke, hook) for hook in self.hooks if "PRODUCTION_TRAFFIC_SHIFT" in _stages(hook)]
        statuses = [answer.get("hookStatus") if isinstance(answer, dict) else None for answer in answers]
        if any(status not in HOOK_STATUSES for status in statuses) or "FAILED" in statuses:
            self._roll_back(invoke, statuses)
            return
        if "IN_PROGRESS" in statuses:
            delays = [
                DEFAULT_CALLBACK_SECONDS if answer.get("callBackDelay") is None else int(answer["callBackDelay"])
                for answer in answers
                if isinstance(answer, dict) and answer.get("hookStatus") == "IN_PROGRESS"
            ]
            self.due = time.monotonic() + min(delays)
            return
        if self.index == len(self.steps) - 1:
            self.outcome = "COMPLETED"
            return
        self.index += 1
        self.due = time.monotonic() + self.bake

    def _invoke(self, invoke: Hook, hook: dict[str, Any]) -> dict[str, Any] | None:
        payload = {
            "serviceArn": self.service_arn,
            "targetServiceRevisionArn": self.old_revision if self.rolling_back else self.new_revision,
            "testTrafficWeights": {},
            "productionTrafficWeights": self.shifted(),
            "hookDetails": hook.get("hookDetails") or {},
        }
        try:
            return invoke(str(hook["hookTargetArn"]), payload)
        except Exception as exc:  # noqa: BLE001 - a hook that fails rolls the deployment back
            return {"error": f"{type(exc).__name__}: {exc}"}

    def _roll_back(self, invoke: Hook, statuses: list[Any]) -> None:
        failed_at = self.weight
        self.rolling_back, self.weight = True, 0.0
        for hook in self.hooks:
            if "PRODUCTION_TRAFFIC_SHIFT" in _stages(hook):
                self._invoke(invoke, hook)
        said = ", ".join(str(status) for status in statuses)
        self.outcome = "FAILED"
        self.reason = (
            f"ECS deployment rolled back: a lifecycle hook answered {said} at PRODUCTION_TRAFFIC_SHIFT "
            f"({failed_at:g} % of production traffic)"
        )


def _stages(hook: dict[str, Any]) -> list[str]:
    return list(hook.get("lifecycleStages") or [])


def revision_arn(service_arn: str, deployment_id: str) -> str:
    """A service revision's ARN, as ECS names one: service-revision/<cluster>/<service>/<id>."""
    return service_arn.replace(":service/", ":service-revision/") + "/" + deployment_id.rsplit("/", 1)[-1]
