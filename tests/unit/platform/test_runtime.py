"""Each function's container: its own environment, and what it keeps is its own."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

from localaws.bridge import LambdaBridge, LocalFunction

from chalicelib.platform import runtime
from chalicelib.platform.runtime import Runtime, kept, running
from chalicelib.platform.settings import settings

CHALICELIB = Path(__file__).parents[3] / "chalicelib"


def test_each_container_reads_its_own_environment_and_keeps_its_own_settings() -> None:
    first = Runtime({"LAUNCH_TABLE": "first-table"})
    second = Runtime({"LAUNCH_TABLE": "second-table"})
    with running(first):
        assert settings().table_name == "first-table"
    with running(second):
        assert settings().table_name == "second-table"
    with running(first):
        assert settings().table_name == "first-table"


def test_a_function_missing_a_variable_from_its_environment_does_not_find_it_in_the_process(
    monkeypatch: Any,
) -> None:
    monkeypatch.setenv("APPROVALS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:from-the-process")
    with running(Runtime({"LAUNCH_TABLE": "t"})):
        assert settings().approvals_topic_arn == ""


def test_a_kept_value_is_made_once_per_container_even_when_asked_for_at_once() -> None:
    made: list[str] = []

    @kept
    def slow() -> str:
        made.append(runtime.current().name)
        time.sleep(0.05)
        return runtime.current().name

    container = Runtime({}, name="one")

    def ask() -> None:
        with running(container):
            assert slow() == "one"

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == ["one"]
    with running(Runtime({}, name="two")):
        assert slow() == "two"
    assert made == ["one", "two"]


def test_forgetting_a_kept_value_forgets_it_only_in_the_running_container() -> None:
    count = iter(range(100))

    @kept
    def counter() -> int:
        return next(count)

    one, two = Runtime({}), Runtime({})
    with running(one):
        assert counter() == 0
    with running(two):
        assert counter() == 1
        counter.cache_clear()
        assert counter() == 2
    with running(one):
        assert counter() == 0


def test_the_code_reads_its_environment_only_through_its_container() -> None:
    """A read of os.environ in chalicelib would find, locally, what another function's template gives."""
    offenders = [
        f"{path.relative_to(CHALICELIB)}:{number}"
        for path in CHALICELIB.rglob("*.py")
        if path.name != "runtime.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bos\.(environ|getenv)\b", line)
    ]
    assert offenders == []


def test_the_bridge_runs_a_function_in_its_container() -> None:
    def reads(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"table": runtime.environ().get("LAUNCH_TABLE")}

    container = Runtime({"LAUNCH_TABLE": "its-own"})
    bridge = LambdaBridge([LocalFunction("reads", reads, "app-reads", runtime=container)])
    assert bridge.invoke("app-reads", {}) == ({"table": "its-own"}, None)


def test_a_function_that_runs_past_its_timeout_is_reported_as_lambda_reports_one() -> None:
    def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
        time.sleep(1.1)
        return {}

    payload, error = LambdaBridge([LocalFunction("slow", slow, "app-slow", timeout_seconds=1)]).invoke("app-slow", {})
    assert error == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert "after 1.00 seconds" in payload["errorMessage"]
