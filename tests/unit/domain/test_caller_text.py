"""Caller text is inert wherever it is shown: the same hostile strings through every output (chat, HTML, email
body and subject, the GitHub deployment's description, the terminal, the log), each asserted harmless there."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from chalicelib.domain import caller_text

HOSTILE = [
    "<!channel> the deploy is broken",
    "<!here>",
    "<!everyone>",
    "@here look at this",
    "@channel @everyone @all",
    "<@U024BE7LH> please approve",
    "<https://evil.example|click here>",
    "[click here](https://evil.example)",
    "*bold* _italic_ ~strike~ `code` ```block```",
    "# heading\n> a quote",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "line one\r\nSubject: injected\r\nBcc: everyone@acme.example",
    "\x1b[2J\x1b[31mred\x07\x1b]0;retitled\x07",
    "::set-output name=x::y\n::error::forged",
    "\u202eexe.txt",
    "abc\u2066hidden\u2069\u200f\u200b",
    "x" * 5000,
    "https://evil.example/login",
    "www.evil.example",
]
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_STEERING = re.compile(r"[\u061c\u200b-\u200f\u202a-\u202e\u2062-\u2064\u2066-\u2069\ufeff]")
_MENTION = re.compile(r"@(channel|here|everyone|all)\b", re.IGNORECASE)


def _plain_line(text: str, limit: int) -> None:
    assert len(text) <= limit, len(text)
    assert not _CONTROL.search(text), repr(text)
    assert not _STEERING.search(text), repr(text)
    assert "\n" not in text, repr(text)
    assert "\r" not in text, repr(text)


def _inert_in_chat(text: str) -> None:
    _plain_line(text, 500)
    assert "<" not in text, text  # no <!channel>, <@U…>, <url|text>
    assert ">" not in text, text
    assert not _MENTION.search(text), text
    assert not set("*_~`[]|#") & set(text), text  # no bold, italics, code, link or heading mark


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_in_the_teams_channel(hostile: str, launch: Any) -> None:
    """Every place of a notification a cause reaches: the description, the next steps, the context."""
    from chalicelib.platform import chat

    note = chat.ended(launch, "ABORTED", "LaunchAborted", hostile, [f"read the cause: {hostile}"], urgent=True)
    _inert_in_chat(note.content.description.split("Cause: LaunchAborted: ", 1)[1])
    _inert_in_chat(note.content.nextSteps[0])
    _inert_in_chat(note.metadata.additionalContext["cause"])
    started = chat.started(launch.model_copy(update={"requested_by": hostile}))
    caller = started.content.description.split("*", 2)[1]
    _inert_in_chat(caller)


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_on_an_html_page(hostile: str) -> None:
    shown = caller_text.for_html(hostile)
    assert not set("<>\"'") & set(shown), shown
    assert not _CONTROL.search(shown)
    assert not _STEERING.search(shown)


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_in_an_email(hostile: str, launch: Any) -> None:
    """The requester (a session's name is the caller's to choose) in an approval email's body, and a subject."""
    from chalicelib.domain.models import ApprovalRequest
    from chalicelib.stages.approval_gate import _email
    from tests.conftest import unit_profile

    asking = launch.model_copy(update={"requested_by": hostile})
    request = ApprovalRequest(
        approval_id="a" * 32,
        launch_id=launch.launch_id,
        role="tech_lead",
        approvers=["tess.lead@acme.example"],
        requested_at=launch.created_at,
        expires_at=launch.created_at,
    )
    body = _email(asking, request, unit_profile("local"), "https://controller.example/approve/x", "https://page")
    lines = [line for line in body.splitlines() if "Requested by:" in line or "asks you to sign off" in line]
    assert len(lines) == 2  # the requester on a line of its own each time: no line of theirs was added
    for line in lines:
        _plain_line(line, 2500)
        assert "://" not in line, line  # no address a mail client makes a link
        assert "www." not in line, line
    subject = caller_text.for_email_subject(hostile)
    assert re.fullmatch(r"[ -~]{1,100}", subject), subject  # what SNS takes as a subject


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_in_a_github_deployments_description_and_the_actions_log(hostile: str) -> None:
    """The action runs with the standard library alone and keeps its own copy: the two say the same."""
    from action import launch as action

    shown = caller_text.for_github(hostile)
    _plain_line(shown, 140)
    assert action._inert(hostile, 140) == shown
    assert "\n" not in action._inert(hostile, 1000)  # `::error::` stays one workflow command


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_on_a_terminal(hostile: str) -> None:
    from launchctl.client import format_event

    for shown in (caller_text.for_terminal(hostile), format_event({"at": "2026-12-03T10:00:00Z", "message": hostile})):
        assert "\x1b" not in shown, repr(shown)
        assert "\x07" not in shown, repr(shown)
        assert not _CONTROL.search(shown)
        assert not _STEERING.search(shown)


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_in_a_log_line(hostile: str) -> None:
    """A field a caller's words reach neither splits the line nor steers a viewer of it."""
    import io

    from chalicelib.platform.log import logger

    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(logger.registered_formatter)
    level = logger.log_level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info(f"asked: {hostile}", extra={"reason": hostile})
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)
    [line] = [line for line in written.getvalue().splitlines() if line]
    fields = json.loads(line)
    for field in (fields["message"], fields["reason"]):
        _plain_line(field, 2000)
