"""The team's channel on Lark (Feishu): each of the channel's messages as a card posted to a custom bot's
webhook, signed as Lark asks, every caller's word inert, a failed delivery retried, then counted.

Lark checks a custom bot's signature: `timestamp` (seconds) and `sign`, the base64 of HMAC-SHA256 keyed by
"<timestamp>\\n<secret>" over nothing, within an hour of Lark's clock. It answers HTTP 200 with `code` 0, or
with the code of what it refused (a signature it could not match, a message it could not read, too many)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.caller_text import for_lark
from chalicelib.platform import telemetry
from chalicelib.platform.chat import ChatNotification
from chalicelib.platform.log import logger
from chalicelib.platform.runtime import kept
from chalicelib.platform.settings import Settings

ATTEMPTS = 3
TIMEOUT_SECONDS = 5
# Lark's answer codes a later attempt may get past: too many requests, and its own trouble.
TRANSIENT_CODES = {11232, 11233, 9499}
COLOURS = {"SUCCEEDED": "green", "ROLLED_BACK": "orange", "AWAITING_APPROVAL": "blue", "BAKING": "blue"}


class LarkUndelivered(Exception):
    """Lark did not take the message: what it said, after every attempt a retry could change."""


def signature(secret: str, timestamp: int) -> str:
    """Lark's `sign` for `timestamp`: base64(HMAC-SHA256(key="<timestamp>\\n<secret>", message=""))."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def card(note: ChatNotification) -> dict[str, Any]:
    """The message as Lark's interactive card: a coloured header, the text as plain text (Lark reads no tag
    or markdown in it), what a person must do next, and the launch page as a button."""
    content = note.content
    context = note.metadata.additionalContext
    status = context.get("status", "")
    urgent = context.get("severity") == "page"
    colour = "red" if urgent else COLOURS.get(status, "red" if status.endswith("FAILED") else "blue")
    description, _, page = content.description.partition("\nLaunch page: ")
    elements: list[dict[str, Any]] = [{"tag": "div", "text": {"tag": "plain_text", "content": for_lark(description)}}]
    if content.nextSteps:
        steps = "\n".join(f"{n}. {step}" for n, step in enumerate(content.nextSteps, 1))
        elements.append({"tag": "div", "text": {"tag": "plain_text", "content": for_lark("What to do now:\n" + steps)}})
    if page.startswith("https://") or page.startswith("http://"):
        button = {"tag": "button", "text": {"tag": "plain_text", "content": "Open the launch page"}, "type": "primary"}
        elements.append({"tag": "action", "actions": [{**button, "url": page.strip()}]})
    title = content.title.split(" ", 1)[1] if content.title.startswith(":") else content.title  # no emoji code
    return {
        "config": {"wide_screen_mode": True},
        "header": {"title": {"tag": "plain_text", "content": for_lark(title, 200)}, "template": colour},
        "elements": elements,
    }


def send(
    webhook: str,
    secret: str,
    note: ChatNotification,
    post: Callable[[str, bytes], tuple[int, bytes]] | None = None,
    now: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> int:
    """Post the note's card, signed; retried while a retry could help. The attempts it took; LarkUndelivered
    when Lark refused it or every attempt failed."""
    post, now, sleep = post or _post, now or time.time, sleep or time.sleep  # looked up at call time
    said = ""
    for attempt in range(1, ATTEMPTS + 1):
        stamp = int(now())
        body = {
            "timestamp": str(stamp),
            "sign": signature(secret, stamp),
            "msg_type": "interactive",
            "card": card(note),
        }
        try:
            status, answer = post(webhook, json.dumps(body).encode())
        except OSError as exc:  # refused, reset, timed out: the message may be sent again
            said, retry = f"Lark could not be reached: {exc}", True
        else:
            code, message = _code(status, answer)
            if code == 0:
                return attempt
            said = f"Lark answered {status} with code {code}: {message}"
            retry = status >= 500 or status == 429 or code in TRANSIENT_CODES
        if not retry:
            break
        if attempt < ATTEMPTS:
            sleep(0.5 * 2 ** (attempt - 1))
    raise LarkUndelivered(said)


def _code(status: int, answer: bytes) -> tuple[int, str]:
    try:
        found = json.loads(answer or b"{}")
    except ValueError:
        return (-1 if status != 200 else 0), answer[:200].decode(errors="replace")
    return int(found.get("code", found.get("StatusCode", -1 if status != 200 else 0))), str(found.get("msg", ""))


def _post(url: str, body: bytes) -> tuple[int, bytes]:
    # urllib.request loads http.client, ssl and email: every stage function imports this module, few post.
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # the webhook the operator set
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read(500)


@kept
def _bot(secrets: Any, secret_id: str) -> tuple[str, str]:
    """The bot's webhook and signing secret, read once per container; ("", "") until an operator puts them."""
    try:
        found = json.loads(secrets.get_secret_value(SecretId=secret_id)["SecretString"])
    except (KeyError, ValueError):
        return "", ""
    return str(found.get("webhook") or ""), str(found.get("secret") or "")


def deliver(note: ChatNotification, settings: Settings, client: Callable[[str], Any]) -> None:
    """The channel's message to the team's Lark group too, when the deployment has a bot there. A message Lark
    does not take never fails the launch: it is counted (LarkMessagesUndelivered, which an alarm may watch)
    and logged with what Lark said."""
    if not settings.lark_bot_secret_id:
        return
    try:
        webhook, secret = _bot(client("secretsmanager"), settings.lark_bot_secret_id)
        if webhook:
            send(webhook, secret, note)
    except (LarkUndelivered, ClientError, BotoCoreError) as exc:  # the bot's secret unreadable counts the same
        telemetry.controller({"LarkMessagesUndelivered": 1})
        logger.warning("Lark did not take the message", extra={"lark": str(exc), "chat_message": note.id})
