"""The local stack has the deployed API's shape: its stage path, its URLs from its own ports, a burst of clients."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
from localaws.infrastructure import backend_image

from launchctl import cli
from launchctl.client import is_final
from tests.integration.helpers import start

pytestmark = pytest.mark.integration


def test_the_api_answers_only_under_its_stage_path_as_api_gateway_does(stack: Any) -> None:
    parts = urllib.parse.urlsplit(stack.api_url)
    assert parts.path == "/api"
    with urllib.request.urlopen(f"{stack.api_url}/openapi.json", timeout=10) as answer:
        assert answer.status == 200
        assert json.loads(answer.read())["servers"] == [{"url": "/api"}]
    with pytest.raises(urllib.error.HTTPError) as outside:
        urllib.request.urlopen(f"{parts.scheme}://{parts.netloc}/openapi.json", timeout=10)
    assert outside.value.code == 403
    assert json.loads(outside.value.read()) == {"message": "Missing Authentication Token"}


def test_a_started_launch_is_located_under_the_stage_path(stack: Any, api: Any) -> None:
    request = urllib.request.Request(
        f"{stack.api_url}/launches",
        data=json.dumps(
            {
                "environment": "local",
                "version": "9.9.9",
                "git_sha": "abcdef1234",
                "frontend_artifact": stack.publish_release("9.9.9"),
                "backend_image": backend_image("9.9.9"),
            }
        ).encode(),
        headers={"Content-Type": "application/json", "Authorization": api.credential()},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=15) as answer:
        launch = json.loads(answer.read())
        assert answer.headers["Location"] == f"/api/launches/{launch['launch_id']}"
    api.abort(launch["launch_id"], "only its Location was wanted")
    ended = api.wait(launch["launch_id"], is_final, timeout=60)
    assert ended["status"] in {"ABORTED", "ROLLED_BACK"}, ended["timeline"]


def test_the_local_profile_points_at_this_stacks_own_ports(stack: Any) -> None:
    from chalicelib.platform.profile_store import load_profile

    assert stack.site is not None
    smoke = load_profile("local").smoke
    assert str(smoke.base_url).rstrip("/") == stack.site.url
    assert smoke.websocket_url == stack.site.websocket_url


def test_the_api_takes_a_burst_of_twenty_parallel_connections(stack: Any, api: Any) -> None:
    # Connections beyond the listen backlog are dropped or reset while the accept loop catches up.
    assert stack._api.server.request_queue_size >= 20
    outcomes: list[Any] = [None] * 20
    barrier = threading.Barrier(20)
    credential = api.credential()

    def fetch(index: int) -> None:
        barrier.wait()
        request = urllib.request.Request(f"{stack.api_url}/launches?limit=5", headers={"Authorization": credential})
        try:
            with urllib.request.urlopen(request, timeout=20) as answer:
                outcomes[index] = answer.status
        except OSError as exc:  # a reset or a refusal is what this test is about
            outcomes[index] = exc

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == [200] * 20


def test_the_readmes_preflight_line_works_with_json_after_the_command(
    stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["preflight", "--env", "local", "--json", "--api", stack.api_url])
    report = json.loads(capsys.readouterr().out)
    assert code == cli.EXIT_OK
    assert report["passed"] is True


def test_the_approval_link_of_a_launch_is_under_the_stage_path(stack: Any, api: Any) -> None:
    launch_id = start(stack, api, "9.9.8")
    api.wait(launch_id, lambda item: item["status"] == "AWAITING_APPROVAL", timeout=30)
    links = [mail["link"] for mail in stack.outbox() if mail["launch_id"] == launch_id]
    assert links
    assert all(urllib.parse.urlsplit(link).path.startswith("/api/approve/") for link in links)
    api.abort(launch_id, "only its links were wanted")
    api.wait(launch_id, lambda item: item["status"] == "ABORTED", timeout=30)
