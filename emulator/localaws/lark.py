"""A stand-in for a Lark (Feishu) group's custom bot: its webhook checks each message's signature as Lark
does (the timestamp within an hour, `sign` the base64 of HMAC-SHA256 keyed by "<timestamp>\\n<secret>"),
keeps the cards it accepts, and answers in Lark's shape (`code` 0, or 19021 for a signature it refuses)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from localaws.servers import JsonHandler, LoopbackServer

SIGNATURE_WINDOW_SECONDS = 3600


class LocalLark:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.secret = secrets.token_urlsafe(24)
        self.cards: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.failing = 0  # the next N messages answered 503, as Lark's trouble would be
        self._lock = threading.Lock()
        self._server = LoopbackServer((host, port), self._handler())
        self.webhook = f"http://{host}:{self._server.server_address[1]}/open-apis/bot/v2/hook/local"

    def start(self) -> LocalLark:
        self._server.serve_in_background("lark")
        return self

    def stop(self) -> None:
        self._server.close()

    def signed(self, timestamp: str, sign: str) -> bool:
        """Whether `sign` is this bot's signature of `timestamp`, and the timestamp within Lark's hour."""
        try:
            moment = int(timestamp)
        except ValueError:
            return False
        if abs(time.time() - moment) > SIGNATURE_WINDOW_SECONDS:
            return False
        key = f"{moment}\n{self.secret}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        return hmac.compare_digest(expected, sign)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        bot = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                try:
                    message = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                except ValueError:
                    self._answer(200, {"code": 9499, "msg": "Bad Request"})
                    return
                with bot._lock:
                    if bot.failing > 0:
                        bot.failing -= 1
                        self._answer(503, {"code": -1, "msg": "service unavailable"})
                        return
                    if not bot.signed(str(message.get("timestamp", "")), str(message.get("sign", ""))):
                        bot.refused.append(json.dumps(message)[:200])
                        msg = "sign match fail or timestamp is not within one hour from current time"
                        self._answer(200, {"code": 19021, "msg": msg})
                        return
                    bot.cards.append(message.get("card", {}))
                self._answer(200, {"code": 0, "msg": "success", "data": {}})

        return Handler
