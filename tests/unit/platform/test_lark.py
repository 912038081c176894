"""The team's Lark group: cards signed as Lark asks, caller text inert, a refused or lost message retried when
that could help and counted, never failing the launch (against the local stand-in, which checks as Lark does)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from localaws.lark import LocalLark

from chalicelib.domain.models import Launch
from chalicelib.platform import chat, lark
from chalicelib.platform.settings import Settings

PAGE = "https://api.example/api/view/launches/local-1?token=t"


@pytest.fixture
def bot() -> Iterator[LocalLark]:
    stand_in = LocalLark().start()
    yield stand_in
    stand_in.stop()


def _ended(launch: Launch, cause: str = "smoke test failed") -> chat.ChatNotification:
    steps = ["switch the application to the restored database acme-db-restored-1a2b3c4d"]
    return chat.ended(launch, "ROLLED_BACK", "SmokeTestFailed", cause, steps, urgent=False, page=PAGE)


def test_a_card_arrives_signed_with_its_steps_and_the_page_as_a_button(bot: LocalLark, launch: Launch) -> None:
    assert lark.send(bot.webhook, bot.secret, _ended(launch)) == 1
    [card] = bot.cards
    assert card["header"]["template"] == "orange"
    assert card["header"]["title"]["content"].startswith("[local] launch of 1.1.0 ROLLED_BACK")
    text = json.dumps(card)
    assert "What to do now:\\n1. switch the application to the restored database" in text
    assert card["elements"][-1]["actions"][0]["url"] == PAGE


def test_a_callers_words_cannot_mention_everyone_or_link_in_a_card(bot: LocalLark, launch: Launch) -> None:
    cause = 'aborted by mallory: <at user_id="all"></at> see [this](https://evil.example) <font color=red>x</font>'
    lark.send(bot.webhook, bot.secret, _ended(launch, cause))
    text = json.dumps(bot.cards[0], ensure_ascii=False)
    assert "<at" not in text
    assert "<font" not in text
    assert "\uff1cat user" in text  # shown, its brackets as full-width look-alikes
    assert all(element["text"]["tag"] == "plain_text" for element in bot.cards[0]["elements"] if "text" in element)


def test_a_signature_lark_refuses_is_not_retried(bot: LocalLark, launch: Launch) -> None:
    posts: list[str] = []

    def post(url: str, body: bytes) -> tuple[int, bytes]:
        posts.append(url)
        return lark._post(url, body)

    with pytest.raises(lark.LarkUndelivered, match="code 19021"):
        lark.send(bot.webhook, "not the bot's secret", _ended(launch), post=post, sleep=lambda _: None)
    assert len(posts) == 1
    with pytest.raises(lark.LarkUndelivered, match="code 19021"):  # a timestamp older than Lark's hour
        lark.send(bot.webhook, bot.secret, _ended(launch), now=lambda: time.time() - 7200, sleep=lambda _: None)
    assert bot.cards == []


def test_lark_in_trouble_is_retried_until_it_takes_the_message(bot: LocalLark, launch: Launch) -> None:
    bot.failing = 2
    assert lark.send(bot.webhook, bot.secret, _ended(launch), sleep=lambda _: None) == 3
    assert len(bot.cards) == 1


def test_a_message_lark_never_takes_is_counted_and_the_launch_goes_on(
    aws: Any, bot: LocalLark, launch: Launch, emitted: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = aws("secretsmanager").create_secret(
        Name="launch-controller/lark-bot", SecretString=json.dumps({"webhook": bot.webhook, "secret": bot.secret})
    )["ARN"]
    monkeypatch.setattr(lark.time, "sleep", lambda _: None)
    bot.failing = lark.ATTEMPTS
    settings = Settings(table_name="launches", lark_bot_secret_id=secret)
    lark.deliver(_ended(launch), settings, aws)  # does not raise
    assert [line for line in emitted if "LarkMessagesUndelivered" in line] != []
    lark.deliver(_ended(launch), settings, aws)
    assert len(bot.cards) == 1


def test_without_a_bot_nothing_is_sent(launch: Launch) -> None:
    def no_client(service: str) -> Any:
        raise AssertionError(f"asked for {service}")

    lark.deliver(_ended(launch), Settings(table_name="launches"), no_client)
