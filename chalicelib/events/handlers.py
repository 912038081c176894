"""What AWS tells the controller between steps, a Blueprint: the events launches wait on (forwarded from the
environments' accounts), an execution's end, and the scheduled watch.

Its functions import what they use when called (a cold-start rule): every Lambda imports app.py and so
this module, and a top-level import here would be paid by every function's cold start."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Rate

from chalicelib.domain.event_pattern import EXECUTIONS_ENDED, WATCHED_EVENTS
from chalicelib.platform import aws
from chalicelib.platform.links import launch_page_link
from chalicelib.platform.log import about, begin_invocation, logger
from chalicelib.platform.settings import settings
from chalicelib.platform.trace import traced
from chalicelib.platform.wiring import launch_store

handlers = Blueprint(__name__)


def _aws(service: str) -> Any:
    return aws.client(service)


@handlers.on_cw_event(WATCHED_EVENTS, name="launch_events")
def launch_events(event: Any) -> None:
    """Answers the launches waiting on the resource an event names (Chalice hands the event, not a context)."""
    from chalicelib.domain.service_events import notice_of
    from chalicelib.stages.waits import on_event

    begin_invocation()
    with traced("launch_events"):
        notice = notice_of(event.to_dict())
        if notice is not None:
            about(event_id=notice.event_id, resource=notice.resource)
            on_event(launch_store(), _aws("stepfunctions"), notice)


@handlers.on_cw_event(EXECUTIONS_ENDED, name="execution_ended")
def execution_ended(event: Any) -> None:
    """Ends, and pages about, a launch whose execution ended before its finish wrote the end."""
    from pydantic import ValidationError

    from chalicelib.events.executions import ExecutionEnded, confirmed
    from chalicelib.events.executions import execution_ended as end

    begin_invocation()
    with traced("execution_ended"):
        envelope = event.to_dict()
        try:
            ended = ExecutionEnded.model_validate(envelope.get("detail", {}))
        except ValidationError:
            logger.warning("not an execution's end the rule asks for: ignored")
            return
        about(launch_id=ended.name, execution=ended.execution_arn)
        deployed = settings()
        sfn = _aws("stepfunctions")
        told = confirmed(
            ended, str(envelope.get("account")), str(envelope.get("region")), deployed.state_machine_arn, sfn
        )
        if told is None:
            logger.warning("an execution's end not confirmed by Step Functions, or not this controller's: ignored")
            return
        page = launch_page_link(deployed, _aws, told.name)
        from chalicelib.platform.lark import deliver

        sns, topic, paging = _aws("sns"), deployed.notifications_topic_arn, deployed.paging_topic_arn
        end(
            launch_store(),
            sns,
            topic,
            told,
            paging,
            page,
            lambda note: deliver(note, deployed, _aws),
            lambda: _aws("kms"),
            deployed.evidence_key_id,
        )


@handlers.schedule(Rate(5, unit=Rate.MINUTES), name="watch_launches")
def watch_launches(event: Any) -> None:
    """Counts the launches stuck in a status longer than their profile allows: the controller's alarm on it
    pages (EventBridge's schedule hands the event, not a context)."""
    from chalicelib.events.watch import watch_launches as watch

    begin_invocation()
    with traced("watch_launches"):
        store = launch_store()
        watch(store, store.clock.now())
