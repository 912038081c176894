"""`launchctl` against the local stack: start, watch, approve, and exit codes scripts can read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from localaws.infrastructure import backend_image

from launchctl import cli
from tests.integration.helpers import APPROVERS, ATTESTATIONS

pytestmark = pytest.mark.integration


def _run(stack: Any, capsys: pytest.CaptureFixture[str], *args: str, person: str | None = None) -> tuple[int, str]:
    """`launchctl` as the local release engineer, or as `person`: each signs with their IAM user's keys."""
    code = cli.main(["--api", stack.api_url, *(["--profile", person] if person else []), *args])
    return code, capsys.readouterr().out


def _start_to_gate(stack: Any, capsys: pytest.CaptureFixture[str], version: str, *extra: str) -> tuple[int, str]:
    """`launchctl start` a launch of `version`; (exit code, launch id) once it waits for approval."""
    code, out = _run(
        stack,
        capsys,
        "--json",
        "start",
        "--env",
        "local",
        "--version",
        version,
        "--git-sha",
        "abc1234",
        "--frontend",
        stack.publish_release(version),
        "--image",
        backend_image(version),
        *extra,
    )
    launch_id = json.loads(out)["launch_id"]
    stack.wait_for(launch_id, {"AWAITING_APPROVAL"}, timeout=30)
    return code, launch_id


def test_cli_drives_a_launch_to_success_and_exits_zero_and_its_evidence_holds(
    stack: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, launch_id = _start_to_gate(stack, capsys, "5.0.0")
    assert code == cli.EXIT_OK
    confirm = [arg for attestation in ATTESTATIONS for arg in ("--confirm", attestation)]
    for role, person in APPROVERS.items():
        code, out = _run(stack, capsys, "approve", launch_id, "--role", role, *confirm, person=person)
        assert code == cli.EXIT_OK
    assert "gate approved" in out
    code, out = _run(stack, capsys, "status", launch_id, "--watch", "--timeout", "60")
    assert code == cli.EXIT_OK
    assert out.strip().endswith(f"{launch_id}: SUCCEEDED")
    assert "checkpoint T+4s passed" in out
    _evidence_holds_until_a_hand_edits_the_table(stack, capsys, launch_id, tmp_path)


def _evidence_holds_until_a_hand_edits_the_table(
    stack: Any, capsys: pytest.CaptureFixture[str], launch_id: str, folder: Path
) -> None:
    """`launchctl evidence` exports the launch, `evidence verify` checks it offline against the evidence key's
    public half (which even the account's operator cannot sign with); an event changed in DynamoDB by hand
    fails at exactly that event."""
    kms, db = stack.client("kms"), stack.client("dynamodb")
    environment = stack.deployment.functions["api_handler"].environment
    key = kms.get_public_key(KeyId=environment["EVIDENCE_KEY_ID"])
    public = folder / "evidence-key.der"
    public.write_bytes(key["PublicKey"])
    with pytest.raises(ClientError, match="AccessDeniedException"):
        kms.sign(KeyId=key["KeyId"], Message=b"forged", MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
    evidence = folder / "evidence.json"
    assert _run(stack, capsys, "evidence", launch_id, "-o", str(evidence))[0] == cli.EXIT_OK
    code, out = _run(stack, capsys, "evidence", "verify", str(evidence), "--public-key", str(public))
    assert code == cli.EXIT_OK, out
    assert "with the pinned key" in out
    item_key = {"pk": {"S": f"LAUNCH#{launch_id}"}, "sk": {"S": f"EVENT#{4:010d}"}}
    table = environment["LAUNCH_TABLE"]
    item = db.get_item(TableName=table, Key=item_key)["Item"]
    event = json.loads(item["event"]["S"])
    db.put_item(TableName=table, Item={**item, "event": {"S": json.dumps({**event, "message": "all fine"})}})
    assert _run(stack, capsys, "evidence", launch_id, "-o", str(evidence))[0] == cli.EXIT_OK
    code, out = _run(stack, capsys, "evidence", "verify", str(evidence), "--public-key", str(public))
    assert code == cli.EXIT_EVIDENCE_BROKEN
    assert "DOES NOT HOLD at event 4" in out


def test_cli_exit_code_tells_a_rejection_apart(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _, launch_id = _start_to_gate(stack, capsys, "5.0.1")
    _run(stack, capsys, "reject", launch_id, "--role", "qa_lead", "--comment", "not today", person=APPROVERS["qa_lead"])
    code, _ = _run(stack, capsys, "status", launch_id, "--watch", "--timeout", "30")
    assert code == cli.EXIT_REJECTED


def test_cli_reports_an_api_refusal_with_exit_code_2(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--api", stack.api_url, "status", "local-20990101-000000-000000"]) == cli.EXIT_USAGE
    assert "no launch" in capsys.readouterr().err


def test_cli_unlock_of_an_environment_nobody_holds_is_refused(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--api", stack.api_url, "unlock", "local", "--reason", "checked by hand, all sound"]
    assert cli.main(argv) == cli.EXIT_USAGE
    assert "not locked" in capsys.readouterr().err


def test_cli_outbox_lists_the_approval_emails_with_their_links(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _, launch_id = _start_to_gate(stack, capsys, "5.0.2")
    assert stack.outbox_server is not None
    code, out = _run(stack, capsys, "outbox", "--outbox", stack.outbox_server.url)
    assert code == cli.EXIT_OK
    for approver in APPROVERS.values():
        assert f"to {approver} ({launch_id}, " in out
        assert "): [local] sign off 5.0.2 as " in out
    assert f"{stack.api_url}/approve/" in out
    # What the team's channel was told, in Chatbot's format rendered as text: who is asked, the page.
    assert "[notifications] :hourglass: [local] 5.0.2 awaits sign-off" in out
    assert f"Launch page: {stack.api_url}/view/launches/{launch_id}?token=" in out
    # The team's Lark group was told too, by a card its bot's signature check let in.
    assert stack.lark is not None
    cards = [card for card in stack.lark.cards if launch_id in json.dumps(card)]
    assert [card["header"]["title"]["content"] for card in cards][-1].endswith("awaits sign-off")
    assert stack.lark.refused == []
    _run(stack, capsys, "reject", launch_id, "--role", "qa_lead", "--comment", "done", person=APPROVERS["qa_lead"])


def test_cli_start_with_an_idempotency_key_twice_starts_one_launch(
    stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["5.0.3", "--idempotency-key", "gh-run-77-attempt-1"]
    _, first = _start_to_gate(stack, capsys, *args)
    _, again = _start_to_gate(stack, capsys, *args)
    assert again == first
    _run(stack, capsys, "reject", first, "--role", "qa_lead", "--comment", "done", person=APPROVERS["qa_lead"])


def test_cli_starts_and_follows_a_launch_with_a_github_token_the_stack_issued(
    stack: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token is the job's identity end to end: the launch is the repository's, with the run's claims.
    (A launch followed to success by the CLI: test_cli_drives_a_launch_to_success_and_exits_zero.)"""
    monkeypatch.setenv("LAUNCHCTL_TOKEN", stack.issuer.issue(run_id="5005"))
    code, launch_id = _start_to_gate(stack, capsys, "5.0.4")
    assert code == cli.EXIT_OK
    monkeypatch.setenv("LAUNCHCTL_TOKEN", stack.issuer.issue(run_id="5005"))
    code, out = _run(stack, capsys, "--json", "status", launch_id)
    assert code == cli.EXIT_OK
    launch = json.loads(out)
    assert (launch["status"], launch["requested_by"]) == ("AWAITING_APPROVAL", "github:acme/shop")
    assert launch["caller"]["claims"]["run_id"] == "5005"
    code, out = _run(stack, capsys, "--json", "abort", launch_id, "--reason", "only its caller was wanted")
    assert code == cli.EXIT_OK, out
    code, out = _run(stack, capsys, "--json", "status", launch_id, "--watch", "--timeout", "60")
    assert json.loads(out)["status"] == "ABORTED"
    assert code == cli.EXIT_STOPPED


def test_cli_without_a_valid_credential_is_refused_with_exit_code_2(
    stack: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAUNCHCTL_TOKEN", stack.issuer.issue(lifetime=-600))
    assert cli.main(["--api", stack.api_url, "list"]) == cli.EXIT_USAGE
    assert "the token has expired" in capsys.readouterr().err


def test_cli_preflight_prints_the_full_report_and_exits_4_on_a_blocking_failure(
    stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from chalicelib.checks.checklist import CHECK_IDS

    code, out = _run(stack, capsys, "preflight", "--env", "local")
    assert code == cli.EXIT_OK, out
    for check_id in CHECK_IDS:
        assert check_id in out
    assert "app.image_in_ecr" in out
    assert "skip" in out
    with stack.broken("s3.site_versioning"):
        code, out = _run(stack, capsys, "preflight", "--env", "local")
    assert code == cli.EXIT_STOPPED
    assert "FAIL s3.site_versioning" in out
    assert out.strip().endswith("a launch would be BLOCKED")
    # With a commit, the release's own tests are read on GitHub too: here one of them failed on every commit.
    with stack.broken("app.release_tests"):
        code, out = _run(stack, capsys, "preflight", "--env", "local", "--git-sha", "abcdef1234567")
    assert code == cli.EXIT_STOPPED
    assert "FAIL app.release_tests" in out
