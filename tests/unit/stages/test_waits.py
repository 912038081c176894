"""Event-driven waits: a wait kept under its resources, answered once by AWS's event, its duplicate ignored,
an event about someone else's resource or from another account believed by no launch."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.models import Launch, LaunchStatus, Stage
from chalicelib.domain.progress import BackendProgress
from chalicelib.domain.service_events import notice_of
from chalicelib.stages.waits import Outcome, Sighting, abort_open_wait, begin_wait, on_event
from tests.conftest import UNIT_ACCOUNT, RecordingStepFunctions, move_to

FIXTURES = Path(__file__).parents[2] / "fixtures" / "events"
SERVICE = f"arn:aws:ecs:us-east-1:{UNIT_ACCOUNT}:service/acme-local/acme-api"


def deployment_event(event_name: str, deployment: str, service: str = SERVICE, account: str = UNIT_ACCOUNT) -> Any:
    """ECS's documented deployment event, about `service` in `account`."""
    event = json.loads((FIXTURES / "ecs-deployment-completed.json").read_text())
    event |= {"account": account, "region": "us-east-1", "resources": [service]}
    event["detail"] |= {"eventName": event_name, "deploymentId": deployment, "reason": f"{deployment} {event_name}"}
    return notice_of(event)


@pytest.fixture
def rolling(store: Any, launch: Launch) -> Launch:
    """A launch whose service is rolling out deployment ecs-svc/1."""
    move_to(store, launch.launch_id, LaunchStatus.DEPLOYING)
    progress = BackendProgress(phase="rolling", task_definition_arn="td:2", deployment_id="ecs-svc/1")
    store.record_result(launch.launch_id, Stage.BACKEND, progress)
    return store.get_launch(launch.launch_id)


def _wait_for_rollout(store: Any, sfn: Any, launch: Launch, token: str = "token-1") -> None:
    pending = Sighting(
        resources=[SERVICE],
        outcome=Outcome(verdict="pending", reason="1/2 tasks running"),
        expects={"deployment_id": "ecs-svc/1"},
    )
    begin_wait(store, sfn, launch, "rollout", token, 60, pending)


def test_the_deployments_completion_answers_the_waiting_launch_once(store: Any, rolling: Launch) -> None:
    sfn = RecordingStepFunctions()
    _wait_for_rollout(store, sfn, rolling)
    assert sfn.answers == []  # the look saw it rolling: the launch waits
    completed = deployment_event("SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/1")
    assert on_event(store, sfn, completed) == [rolling.launch_id]
    assert [(kind, call["taskToken"]) for kind, call in sfn.answers] == [("success", "token-1")]
    assert json.loads(sfn.answers[0][1]["output"])["rollout"] == "steady"
    stored = store.get_launch(rolling.launch_id)
    assert stored.results.backend.rollout == "steady"
    assert store.timeline(rolling.launch_id)[-1].message.startswith("ecs-svc/1 SERVICE_DEPLOYMENT_COMPLETED")
    # The same event again (EventBridge delivers at least once): nobody waits any more.
    assert on_event(store, sfn, completed) == []
    assert len(sfn.answers) == 1
    assert store.open_wait_of(rolling.launch_id) is None
    assert store.waits_on(SERVICE) == []


def test_a_failed_deployment_fails_the_wait_with_the_rollouts_error(store: Any, rolling: Launch) -> None:
    sfn = RecordingStepFunctions()
    _wait_for_rollout(store, sfn, rolling)
    on_event(store, sfn, deployment_event("SERVICE_DEPLOYMENT_FAILED", "ecs-svc/1"))
    kind, call = sfn.answers[0]
    assert (kind, call["error"]) == ("failure", "BackendRolloutFailed")
    assert "ECS rollout of acme-api failed" in call["cause"]
    assert store.timeline(rolling.launch_id)[-1].kind == "stage_failed"


def test_events_of_another_deployment_or_in_progress_decide_nothing(store: Any, rolling: Launch) -> None:
    sfn = RecordingStepFunctions()
    _wait_for_rollout(store, sfn, rolling)
    assert on_event(store, sfn, deployment_event("SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/0")) == []
    assert on_event(store, sfn, deployment_event("SERVICE_DEPLOYMENT_IN_PROGRESS", "ecs-svc/1")) == []
    assert sfn.answers == []
    assert store.open_wait_of(rolling.launch_id) is not None


def test_an_event_about_another_launchs_resource_reaches_no_launch(store: Any, rolling: Launch) -> None:
    sfn = RecordingStepFunctions()
    _wait_for_rollout(store, sfn, rolling)
    elsewhere = SERVICE.replace("acme-api", "acme-worker")
    assert on_event(store, sfn, deployment_event("SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/1", elsewhere)) == []
    assert sfn.answers == []


def test_an_event_from_another_account_is_not_believed(store: Any, rolling: Launch) -> None:
    sfn = RecordingStepFunctions()
    _wait_for_rollout(store, sfn, rolling)
    forged = deployment_event("SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/1", account="999999999999")
    assert on_event(store, sfn, forged) == []
    assert sfn.answers == []
    assert store.open_wait_of(rolling.launch_id) is not None


def test_a_look_that_sees_it_done_answers_at_once(store: Any, rolling: Launch) -> None:
    sfn = RecordingStepFunctions()
    steady = rolling.results.backend.model_copy(update={"rollout": "steady"})  # type: ignore[union-attr]
    done = Sighting(resources=[SERVICE], outcome=Outcome(verdict="done", reason="2/2 tasks", progress=steady))
    begin_wait(store, sfn, rolling, "rollout", "token-1", 60, done)
    assert [kind for kind, _ in sfn.answers] == ["success"]
    assert store.open_wait_of(rolling.launch_id) is None  # a late event finds nothing to answer


def test_a_new_wait_replaces_the_launchs_last_and_an_event_for_the_old_one_is_ignored(
    store: Any, rolling: Launch
) -> None:
    sfn = RecordingStepFunctions()
    _wait_for_rollout(store, sfn, rolling, token="token-1")  # timed out: the execution left it behind
    _wait_for_rollout(store, sfn, rolling, token="token-2")
    on_event(store, sfn, deployment_event("SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/1"))
    assert [call["taskToken"] for _, call in sfn.answers] == ["token-2"]


def test_an_abort_releases_the_wait_at_once(store: Any, rolling: Launch) -> None:
    sfn = RecordingStepFunctions()
    _wait_for_rollout(store, sfn, rolling)
    assert abort_open_wait(store, sfn, rolling.launch_id, "aborted by sam: wrong build") is True
    assert [(kind, call["error"]) for kind, call in sfn.answers] == [("failure", "LaunchAborted")]
    assert on_event(store, sfn, deployment_event("SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/1")) == []
    assert abort_open_wait(store, sfn, rolling.launch_id, "again") is False


def test_the_event_function_answers_through_chalice(store: Any, rolling: Launch, monkeypatch: Any) -> None:
    """The Lambda EventBridge invokes: Chalice's event source, the notice, the waiting launch."""
    from chalice.test import Client

    from app import app
    from chalicelib.events import handlers

    sfn = RecordingStepFunctions()
    monkeypatch.setattr(handlers, "launch_store", lambda: store)
    monkeypatch.setattr(handlers, "_aws", lambda service: sfn)
    _wait_for_rollout(store, sfn, rolling)
    event = json.loads((FIXTURES / "ecs-deployment-completed.json").read_text())
    event |= {"account": UNIT_ACCOUNT, "region": "us-east-1", "resources": [SERVICE]}
    event["detail"]["deploymentId"] = "ecs-svc/1"
    with Client(app) as client:
        client.lambda_.invoke("launch_events", copy.deepcopy(event))
    assert [kind for kind, _ in sfn.answers] == ["success"]


def test_what_changed_before_the_wait_was_kept_is_seen_by_the_second_look(store: Any, rolling: Launch) -> None:
    """The event came between the first look and the wait being kept, found no wait and was dropped: the
    look after keeping the wait sees what it said."""
    sfn = RecordingStepFunctions()
    pending = Sighting(resources=[SERVICE], outcome=Outcome(verdict="pending", reason="1/2 tasks running"))
    steady = rolling.results.backend.model_copy(update={"rollout": "steady"})  # type: ignore[union-attr]
    seen_later = Sighting(resources=[SERVICE], outcome=Outcome(verdict="done", reason="2/2", progress=steady))
    begin_wait(store, sfn, rolling, "rollout", "token-1", 60, pending, lambda: seen_later)
    assert [kind for kind, _ in sfn.answers] == ["success"]


def test_a_look_that_sees_it_failed_fails_the_wait_at_once(store: Any, rolling: Launch) -> None:
    sfn = RecordingStepFunctions()
    failed = Sighting(resources=[SERVICE], outcome=Outcome(verdict="failed", reason="circuit breaker tripped"))
    begin_wait(store, sfn, rolling, "rollout", "token-1", 60, failed)
    assert [(kind, call["error"], call["cause"]) for kind, call in sfn.answers] == [
        ("failure", "BackendRolloutFailed", "circuit breaker tripped")
    ]
