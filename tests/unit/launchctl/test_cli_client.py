"""The CLI as documented: options after the command, retries of a flaky gateway, a watch that survives a poll."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from localaws.servers import JsonHandler, LoopbackServer

from launchctl import cli
from launchctl.client import ApiError, ControllerApi


class FlakyApi:
    """A loopback API that answers the planned statuses in turn (then 200 with `body`), counting requests."""

    def __init__(self, plan: list[int], body: dict[str, Any]) -> None:
        self.plan = list(plan)
        self.requests: list[tuple[str, str]] = []
        outer = self

        class Handler(JsonHandler):
            def _reply(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append((self.command, self.path))
                status = outer.plan.pop(0) if outer.plan else 200
                self._answer(status, body if status == 200 else {"message": "gateway trouble"})

            do_GET = do_POST = _reply  # noqa: N815 - http.server's names

        self.server = LoopbackServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def flaky() -> Iterator[Any]:
    made: list[FlakyApi] = []

    def make(plan: list[int], body: dict[str, Any] | None = None) -> FlakyApi:
        made.append(FlakyApi(plan, body or {"launch_id": "local-1", "status": "SUCCEEDED", "timeline": []}))
        return made[-1]

    yield make
    for api in made:
        api.close()


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_read_is_retried_through_a_gateway_error(flaky: Any, status: int) -> None:
    api = flaky([status, status])
    assert ControllerApi(api.url, retries=3, backoff=0.01).get("local-1")["status"] == "SUCCEEDED"
    assert len(api.requests) == 3


def test_a_start_is_retried_with_the_same_idempotency_key(flaky: Any) -> None:
    api = flaky([504, 503])
    ControllerApi(api.url, retries=3, backoff=0.01).start(environment="local")
    assert [method for method, _ in api.requests] == ["POST"] * 3


def test_a_decision_is_not_repeated_after_a_504_that_may_have_counted(flaky: Any) -> None:
    api = flaky([504])
    with pytest.raises(ApiError) as failed:
        ControllerApi(api.url, retries=3, backoff=0.01).decide("local-1", "qa_lead", "approve")
    assert failed.value.status == 504
    assert len(api.requests) == 1


def test_a_refused_connection_is_retried_then_reported() -> None:
    with LoopbackServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]
    calls = 0

    class Counting(ControllerApi):
        def _send(self, *args: Any) -> Any:
            nonlocal calls
            calls += 1
            return super()._send(*args)

    with pytest.raises(ConnectionRefusedError):
        Counting(f"http://127.0.0.1:{port}/api", retries=2, backoff=0.01).get("local-1")
    assert calls == 3


def test_a_client_error_is_never_retried(flaky: Any) -> None:
    api = flaky([404])
    with pytest.raises(ApiError):
        ControllerApi(api.url, retries=3, backoff=0.01).get("local-1")
    assert len(api.requests) == 1


def test_watching_survives_one_failed_poll(flaky: Any) -> None:
    api = flaky([200, 503, 503])  # the second poll fails even after its one retry
    client = ControllerApi(api.url, retries=1, backoff=0.01)
    seen = []
    for launch, _ in client.follow("local-1", lambda item: len(seen) >= 2, timeout=10, interval=0.01):
        seen.append(launch)
    assert len(seen) == 2
    api.plan = [503, 503, 503, 503]  # two polls in a row fail: that is reported
    with pytest.raises(ApiError):
        for _ in client.follow("local-1", lambda item: False, timeout=10, interval=0.01):
            pass


@pytest.mark.parametrize(
    "argv",
    [
        ["preflight", "--env", "local", "--json"],
        ["--json", "preflight", "--env", "local"],
        ["preflight", "--json", "--env", "local", "--api", "http://127.0.0.1:1/api"],
        ["--api", "http://127.0.0.1:1/api", "--json", "status", "local-1"],
    ],
)
def test_json_and_api_work_before_or_after_the_command(argv: list[str]) -> None:
    args = cli.parser().parse_args(argv)
    assert args.json is True
    assert args.api.endswith("/api")


def test_an_option_before_the_command_is_not_reset_by_the_command() -> None:
    args = cli.parser().parse_args(["--api", "http://example.test/api", "--profile", "me", "list"])
    assert (args.api, args.profile, args.json) == ("http://example.test/api", "me", False)


def test_status_watch_polls_every_few_seconds_by_default() -> None:
    assert cli.parser().parse_args(["status", "local-1", "--watch"]).interval >= 2


def test_profile_validate_names_the_version_or_each_field_wrong(tmp_path: Any, capsys: Any) -> None:
    from pathlib import Path

    from chalicelib.domain.profiles import load_profile_file
    from launchctl.examples import EXAMPLES_DIR

    production = EXAMPLES_DIR / "production.toml"
    assert cli.main(["profile", "validate", str(production)]) == cli.EXIT_OK
    assert load_profile_file(production).digest in capsys.readouterr().out
    broken = Path(tmp_path) / "production.toml"
    broken.write_text(production.read_text().replace("checkpoints = [900, 3600]", "checkpoints = [3600, 900]"))
    assert cli.main(["profile", "validate", "--json", str(broken)]) == cli.EXIT_USAGE
    answer = json.loads(capsys.readouterr().out)
    assert answer["valid"] is False
    assert "bake" in answer["error"]
    assert "ascending" in answer["error"]
