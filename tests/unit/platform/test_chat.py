"""The team's channel: every notification is AWS Chatbot's custom notification, threaded by launch."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.models import Launch, LaunchStatus
from chalicelib.platform import chat
from chalicelib.stages.lifecycle import notify_end
from tests.conftest import unit_profile

# The schema's fields (docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html), nothing else.
TOP = {"version", "source", "id", "content", "metadata"}
CONTENT = {"textType", "title", "description", "nextSteps", "keywords"}
METADATA = {"threadId", "summary", "eventType", "relatedResources", "additionalContext"}


def _topic(aws: Any, name: str) -> str:
    arn: str = aws("sns").create_topic(Name=name)["TopicArn"]
    return arn


def _sent(topic: str) -> list[tuple[Any, ...]]:
    from moto.sns.models import sns_backends

    return list(sns_backends["123456789012"]["us-east-1"].topics[topic].sent_notifications)


def test_each_kind_of_message_is_chatbots_custom_notification_in_the_launchs_thread(launch: Launch) -> None:
    notes = [
        chat.started(launch),
        chat.awaiting_approval(launch, unit_profile("local"), "2026-11-30T10:00+00:00"),
        chat.checkpoint(launch, "T+15min", {"error_rate": 0.0, "p95_ms": 120.0, "requests": 900}, final=False),
        chat.ended(launch, "ROLLED_BACK", "BakeBreached", "error rate 2% > 0.1%", [], urgent=False),
    ]
    for note in notes:
        document = json.loads(note.model_dump_json())
        assert set(document) == TOP
        assert (document["version"], document["source"]) == ("1.0", "custom")
        assert set(document["content"]) == CONTENT
        assert document["content"]["textType"] == "client-markdown"
        assert set(document["metadata"]) == METADATA
        assert document["metadata"]["threadId"] == launch.launch_id
        assert all(isinstance(value, str) for value in document["metadata"]["additionalContext"].values())
    assert len({note.id for note in notes}) == len(notes)
    asked = notes[1].content.description
    assert all(email in asked for emails in unit_profile("local").approvals.approvers.values() for email in emails)
    assert "error_rate 0.0" in notes[2].content.description
    # As Slack and Teams read it (entities for & < >): "error rate 2% > 0.1%".
    assert "error rate 2% &gt; 0.1%" in notes[3].content.description


def test_a_failed_rollback_is_told_to_the_channel_and_pages_with_the_steps_left(aws: Any, launch: Launch) -> None:
    notifications, paging = _topic(aws, "notifications"), _topic(aws, "paging")
    steps = ["undo by hand: backend: AccessDenied", "then run: launchctl unlock local --reason '<what you did>'"]
    notify_end(
        aws("sns"),
        notifications,
        launch,
        LaunchStatus.ROLLBACK_FAILED,
        "RollbackIncomplete",
        "backend",
        steps,
        paging_topic_arn=paging,
    )
    [(_, told, subject, attributes, _)] = _sent(notifications)
    [(_, paged, _, _, _)] = _sent(paging)
    assert told == paged
    body = chat.read(told)
    shown = [step.replace("<", "&lt;").replace(">", "&gt;") for step in steps]  # what the channel reads as <>
    assert (body["status"], body["severity"], body["manual_steps"]) == ("ROLLBACK_FAILED", "page", shown)
    assert subject.startswith("[local] ACTION NEEDED: rollback of")
    assert attributes["severity"]["Value"] == "page"


def test_a_success_is_told_to_the_channel_and_pages_nobody(aws: Any, launch: Launch) -> None:
    notifications, paging = _topic(aws, "notifications"), _topic(aws, "paging")
    notify_end(aws("sns"), notifications, launch, LaunchStatus.SUCCEEDED, None, "", [], paging_topic_arn=paging)
    [(_, told, _, _, _)] = _sent(notifications)
    assert _sent(paging) == []
    assert chat.read(told)["status"] == "SUCCEEDED"
