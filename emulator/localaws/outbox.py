"""The local stack's outbox: the approval emails SNS would deliver, to whom its filter policies send them, and
what the team's channel and the pager would show (AWS Chatbot's custom notifications, as published)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from localaws.servers import JsonHandler, LoopbackServer

LINK = re.compile(r"https?://\S+/approve/[0-9a-f]{32}\?token=\S+")


def delivered(account_id: str, region: str, topic_arn: str) -> list[dict[str, Any]]:
    """Every message published to the topic, once per email subscription whose filter policy lets it through."""
    from moto.sns.models import sns_backends
    from moto.sns.utils import FilterPolicyMatcher

    backend = sns_backends[account_id][region]
    topic = backend.topics[topic_arn]
    subscriptions = [s for s in backend.subscriptions.values() if s.topic_arn == topic_arn and s.protocol == "email"]
    mail = []
    for message_id, message, subject, attributes, _ in list(topic.sent_notifications):
        for subscription in subscriptions:
            policy = json.loads(subscription.attributes.get("FilterPolicy") or "{}")
            scope = subscription.attributes.get("FilterPolicyScope")
            if not FilterPolicyMatcher(policy, scope).matches(attributes, message):
                continue
            link = LINK.search(message)
            mail.append(
                {
                    "message_id": message_id,
                    "to": subscription.endpoint,
                    "subject": subject,
                    "body": message,
                    "link": link.group(0) if link else None,
                    "launch_id": ((attributes or {}).get("launch_id") or {}).get("Value"),
                    "role": ((attributes or {}).get("role") or {}).get("Value"),
                }
            )
    return mail


Control = Callable[[dict[str, Any]], dict[str, Any]]


class ControlRefused(ValueError):
    """A control asked for something the stack cannot do (an unknown alarm, a defect it does not know)."""


class OutboxServer:
    """Serves the outbox as JSON on loopback, for `launchctl outbox` in another terminal, and the stack's
    controls (`POST /control/<name>` with a JSON body: publish a release, set an alarm) for `launchctl local`."""

    def __init__(
        self, host: str, port: int, read: Any, read_channel: Any = list, controls: dict[str, Control] | None = None
    ) -> None:
        outer = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.rstrip("/") != "/outbox":
                    self._answer(404, {"error": "not found"})
                    return
                self._answer(200, {"emails": outer.read(), "channel": outer.read_channel()})

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                control = outer.controls.get(self.path.removeprefix("/control/"))
                if not self.path.startswith("/control/") or control is None:
                    self._answer(404, {"error": f"no control {self.path}; there are {', '.join(outer.controls)}"})
                    return
                try:
                    asked = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                    self._answer(200, control(asked))
                except (ValueError, KeyError, ControlRefused) as exc:
                    self._answer(400, {"error": str(exc)})

        self.read = read
        self.read_channel = read_channel
        self.controls = controls or {}
        self._server = LoopbackServer((host, port), Handler)
        self.url = f"http://{host}:{self._server.server_address[1]}/outbox"
        self.control_url = f"http://{host}:{self._server.server_address[1]}/control"

    def start(self) -> None:
        self._server.serve_in_background("outbox")

    def stop(self) -> None:
        self._server.close()


def published(account_id: str, region: str, topics: dict[str, str]) -> list[dict[str, Any]]:
    """Every message published to the named topics (the channel's and the pager's), oldest first per topic,
    as Chatbot would read it."""
    from moto.sns.models import sns_backends

    backend = sns_backends[account_id][region]
    found = []
    for name, arn in topics.items():
        for message_id, message, subject, _, _ in list(backend.topics[arn].sent_notifications):
            try:
                notification = json.loads(message)
            except ValueError:
                continue
            found.append({"topic": name, "message_id": message_id, "subject": subject, "notification": notification})
    return found
