"""The CLI as people use `gh`: tables with headers and relative times, paging, chosen fields, exit codes by
outcome, a start that says where to look, whoami, "did you mean", and shell completion that works in bash."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from localaws.servers import JsonHandler, LoopbackServer

from launchctl import cli
from launchctl.output import ago, span, table

NOW = datetime.now(UTC)


def _launch(launch_id: str, status: str, minutes_ago: float, took: float, **more: Any) -> dict[str, Any]:
    began = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {
        "launch_id": launch_id,
        "environment": "local",
        "version": "1.2.0",
        "status": status,
        "stage": None,
        "created_at": began.isoformat(),
        "updated_at": (began + timedelta(seconds=took)).isoformat(),
        "requested_by": "riley.release@acme.example",
        **more,
    }


class ScriptedApi:
    """A loopback API answering each path with its scripted (status, body); records what was asked."""

    def __init__(self, answers: dict[str, tuple[int, dict[str, Any]]]) -> None:
        self.asked: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(JsonHandler):
            def _reply(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.asked.append(f"{self.command} {self.path}")
                if body:
                    outer.bodies.append(json.loads(body))
                path = self.path.removeprefix("/api")
                self._answer(*(answers.get(path) or answers.get(path.split("?")[0]) or (404, {"message": "no"})))

            do_GET = do_POST = _reply  # noqa: N815 - http.server's names

        self.server = LoopbackServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def run(self, *argv: str) -> int:
        return cli.main([*argv, "--api", self.url])


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("LAUNCHCTL_TOKEN", "a-token")
    made: list[ScriptedApi] = []

    def make(answers: dict[str, tuple[int, dict[str, Any]]]) -> ScriptedApi:
        made.append(ScriptedApi(answers))
        return made[-1]

    yield make
    for served in made:
        served.server.shutdown()
        served.server.server_close()


def test_list_is_a_table_with_headers_requesters_relative_times_durations_and_rollbacks(api: Any, capsys: Any) -> None:
    page = {
        "launches": [
            _launch("local-2", "BAKING", 2, 60),
            _launch("local-1", "SUCCEEDED", 90, 252, rolled_back_by="local-3"),
        ],
        "next_cursor": None,
    }
    assert api({"/launches": (200, page)}).run("list") == cli.EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["LAUNCH", "VERSION", "ENV", "STATUS", "BY", "STARTED", "TOOK"]
    assert "running" in lines[1]
    assert re.search(r"\b2m\d\ds ago", lines[1]), lines[1]
    assert "SUCCEEDED (rolled back by local-3)" in lines[2]
    assert "riley.release@acme.example" in lines[2]
    assert "4m12s" in lines[2]


def test_list_pages_by_cursor_and_says_how_to_get_the_next(api: Any, capsys: Any) -> None:
    first = {"launches": [_launch("local-2", "SUCCEEDED", 5, 10)], "next_cursor": "abc"}
    second = {"launches": [_launch("local-1", "SUCCEEDED", 50, 10)], "next_cursor": None}
    served = api(
        {
            "/launches?limit=1&environment=local": (200, first),
            "/launches?limit=1&environment=local&cursor=abc": (200, second),
        }
    )
    assert served.run("list", "--limit", "1", "--env", "local") == cli.EXIT_OK
    assert "more: launchctl list --cursor abc --env local" in capsys.readouterr().out
    assert served.run("list", "--limit", "1", "--env", "local", "--all", "--json") == cli.EXIT_OK
    answer = json.loads(capsys.readouterr().out)
    assert [item["launch_id"] for item in answer["launches"]] == ["local-2", "local-1"]
    assert answer["next_cursor"] is None
    assert served.run("list", "--limit", "1", "--env", "local", "--json") == cli.EXIT_OK
    assert json.loads(capsys.readouterr().out)["next_cursor"] == "abc"


def test_fields_choose_what_json_prints_and_an_unknown_field_is_named(api: Any, capsys: Any) -> None:
    served = api({"/launches": (200, {"launches": [_launch("local-1", "SUCCEEDED", 5, 10)], "next_cursor": None})})
    assert served.run("list", "--fields", "launch_id,status") == cli.EXIT_OK
    assert json.loads(capsys.readouterr().out)["launches"] == [{"launch_id": "local-1", "status": "SUCCEEDED"}]
    assert served.run("list", "--fields", "launch_id,colour") == cli.EXIT_USAGE
    error = capsys.readouterr().err
    assert "no field colour here" in error
    assert "requested_by" in error


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("SUCCEEDED", cli.EXIT_OK),
        ("BLOCKED", cli.EXIT_STOPPED),
        ("ROLLED_BACK", cli.EXIT_ROLLED_BACK),
        ("REJECTED", cli.EXIT_REJECTED),
        ("ROLLBACK_FAILED", cli.EXIT_ROLLBACK_FAILED),
        ("BAKING", cli.EXIT_OK),
    ],
)
def test_status_exits_with_the_launchs_outcome_without_watching(api: Any, status: str, code: int) -> None:
    launch = {**_launch("local-1", status, 5, 10), "timeline": []}
    assert api({"/launches/local-1": (200, launch)}).run("status", "local-1") == code


def test_start_prints_the_page_and_how_to_follow(api: Any, capsys: Any) -> None:
    started = _launch("local-9", "REQUESTED", 0, 0)
    link = {"url": "https://api.example/api/view/local-9?token=t", "expires_at": NOW.isoformat()}
    served = api({"/launches": (202, started), "/launches/local-9/view-link": (200, link)})
    argv = ["start", "--env", "local", "--version", "1.2.0", "--git-sha", "abc1234"]
    assert served.run(*argv, "--frontend", "s3://b/r/", "--image", "repo/api:1.2.0") == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "page:   https://api.example/api/view/local-9?token=t" in out
    assert "follow: launchctl status local-9 --watch" in out


def test_promote_launches_what_the_launch_deployed_by_its_digest_naming_it(api: Any, capsys: Any) -> None:
    digest = "sha256:" + "c" * 64
    request = {
        "environment": "staging",
        "version": "1.2.0",
        "git_sha": "abc1234",
        "frontend_artifact": "s3://acme-artifacts-staging/releases/1.2.0/",
        "backend_image": "1.dkr.ecr.us-east-1.amazonaws.com/acme/api:1.2.0",
    }
    source = {**_launch("staging-1", "SUCCEEDED", 60, 600), "request": request, "artifacts": {"backend_digest": digest}}
    started = _launch("production-2", "REQUESTED", 0, 0)
    served = api({"/launches/staging-1": (200, source), "/launches": (202, started)})
    copy = "s3://acme-artifacts-production/releases/1.2.0/"
    assert served.run("promote", "staging-1", "--to", "production", "--frontend", copy, "-q") == cli.EXIT_OK
    assert capsys.readouterr().out.strip() == "production-2"
    assert served.bodies == [
        {
            "environment": "production",
            "version": "1.2.0",
            "git_sha": "abc1234",
            "frontend_artifact": copy,
            "backend_image": f"1.dkr.ecr.us-east-1.amazonaws.com/acme/api@{digest}",
            "promote_from": "staging-1",
        }
    ]
    rolled = {**source, "status": "ROLLED_BACK"}
    assert api({"/launches/staging-1": (200, rolled)}).run("promote", "staging-1", "--to", "production") == (
        cli.EXIT_USAGE
    )
    assert "only a launch that SUCCEEDED is promoted" in capsys.readouterr().err


def test_whoami_names_the_caller_the_api_and_what_they_may_do(api: Any, capsys: Any) -> None:
    me = {
        "caller": {"kind": "iam", "subject": "arn:aws:iam::1:user/quinn", "name": "arn:aws:iam::1:user/quinn"},
        "environments": [
            {"environment": "local", "person": "quinn.qa@acme.example", "may_launch": False, "approves": ["qa_lead"]}
        ],
    }
    served = api({"/me": (200, me)})
    assert served.run("whoami") == cli.EXIT_OK
    out = capsys.readouterr().out
    assert f"at {served.url}" in out
    assert "local: approve as qa_lead" in out


def test_a_rejection_needs_a_comment_in_the_cli_too(capsys: Any) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["reject", "local-1", "--role", "qa_lead"])
    assert exited.value.code == cli.EXIT_USAGE
    assert "--comment" in capsys.readouterr().err


def test_approve_names_the_checklists_roles_and_attestations_in_its_help(capsys: Any) -> None:
    with pytest.raises(SystemExit):
        cli.main(["approve", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "tech_lead, product_manager, qa_lead" in out
    assert "code_freeze, rollback_plan, on_call, runbooks" in out
    assert out.count("--json") == 2  # once in the usage line, once in the options


@pytest.mark.parametrize(
    ("argv", "meant"),
    [(["stat", "x"], "did you mean status?"), (["list", "--enviroment", "x"], "did you mean --env?")],
)
def test_a_mistyped_command_or_option_says_what_was_meant(argv: list[str], meant: str, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == cli.EXIT_USAGE
    assert meant in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(
    ("line", "offered"),
    [
        ("launchctl sta", {"start", "status"}),
        ("launchctl list --st", {"--status", "--sts-endpoint"}),
        ("launchctl profile pu", {"push"}),
        ("launchctl profile push --to", {"--topic"}),
        ("launchctl status local-1 --wa", {"--watch"}),
    ],
)
def test_bash_completion_offers_commands_and_each_commands_options(line: str, offered: set[str], capsys: Any) -> None:
    assert cli.main(["completion", "bash"]) == cli.EXIT_OK
    script = capsys.readouterr().out
    words = line.split()
    probe = f"""{script}
COMP_WORDS=({" ".join(words)}); COMP_CWORD={len(words) - 1}; _launchctl; printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    answer = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True, timeout=30)
    assert set(answer.stdout.split()) == offered


def test_times_and_tables_read_as_a_person_says_them() -> None:
    assert [span(s) for s in (0, 45, 252, 7500, 2 * 86400 + 3 * 3600)] == ["0s", "45s", "4m12s", "2h05m", "2d3h"]
    assert ago((NOW - timedelta(seconds=90)).isoformat(), NOW) == "1m30s ago"
    assert ago(NOW.isoformat(), NOW) == "just now"
    assert ago((NOW - timedelta(days=40)).isoformat(), NOW) == (NOW - timedelta(days=40)).strftime("%Y-%m-%d")
    assert table(["a", "bb"], [["xxx", "y"]]) == "A    BB\nxxx  y"


def test_every_option_and_argument_of_every_command_says_what_it_is() -> None:
    import argparse

    missing = []

    def walk(parser: argparse.ArgumentParser, where: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, f"{where} {name}")
            elif action.help is None and not isinstance(action, argparse._HelpAction):
                missing.append(f"{where}: {action.dest}")

    walk(cli.parser(), "launchctl")
    assert missing == []


def test_the_outbox_shows_each_emails_launch_and_role_and_filters_by_launch_and_person(api: Any, capsys: Any) -> None:
    mail = [
        {
            "to": "tess.lead@acme.example",
            "subject": "Sign off 1.4.0",
            "link": "L1",
            "launch_id": "a",
            "role": "tech_lead",
        },
        {"to": "quinn.qa@acme.example", "subject": "Sign off 1.4.0", "link": "L2", "launch_id": "a", "role": "qa_lead"},
        {"to": "quinn.qa@acme.example", "subject": "Sign off 1.5.0", "link": "L3", "launch_id": "b", "role": "qa_lead"},
    ]
    served = api({"/outbox": (200, {"emails": mail, "channel": []})})
    outbox = served.url.removesuffix("/api") + "/api/outbox"
    assert cli.main(["outbox", "--outbox", outbox, "--launch", "a", "--json"]) == cli.EXIT_OK
    assert [sent["link"] for sent in json.loads(capsys.readouterr().out)["emails"]] == ["L1", "L2"]
    assert cli.main(["outbox", "--outbox", outbox, "--to", "QUINN.qa@acme.example"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "to quinn.qa@acme.example (b, qa_lead): Sign off 1.5.0" in out
    assert "tess" not in out


@pytest.mark.parametrize(("status", "code"), [("AWAITING_APPROVAL", cli.EXIT_OK), ("BLOCKED", cli.EXIT_STOPPED)])
def test_watching_until_a_status_stops_there_and_a_launch_that_ended_first_says_how(
    api: Any, status: str, code: int
) -> None:
    launch = {**_launch("local-1", status, 1, 5), "timeline": []}
    served = api({"/launches/local-1": (200, launch)})
    assert served.run("status", "local-1", "--watch", "--until", "AWAITING_APPROVAL", "--interval", "0.1") == code


def test_an_aws_profile_that_does_not_exist_is_named_with_the_ones_that_do(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    config = tmp_path / "config"
    config.write_text("[profile release]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.delenv("LAUNCHCTL_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    assert cli.main(["status", "local-1", "--api", "https://api.example/api", "--profile", "relaese"]) == cli.EXIT_USAGE
    error = capsys.readouterr().err
    assert "no AWS profile named 'relaese'" in error
    assert "the profiles there: release" in error
    assert "could not be found" not in error  # botocore's words
