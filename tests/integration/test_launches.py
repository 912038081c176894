"""Whole launches: the real ASL executed by moto, the real Lambda code behind the bridge."""

from __future__ import annotations

import time
import urllib.request
from typing import Any

import pytest
from localaws.infrastructure import backend_image

from chalicelib.domain.artifacts import pinned_image
from launchctl.client import ApiError, ControllerApi, is_final
from tests.integration.helpers import (
    APPROVERS,
    approve_all,
    decide,
    first_event_at,
    launch_alarms,
    lock_holder,
    next_version,
    run_approved,
    snapshot,
    start,
    use_profile,
    wait,
)

pytestmark = pytest.mark.integration


def test_a_healthy_release_goes_live_and_succeeds(stack: Any, api: ControllerApi) -> None:
    version = next_version()
    launch = run_approved(stack, api, version)
    assert launch["status"] == "SUCCEEDED", launch["timeline"]
    definition, site = snapshot(stack)
    image = stack.environment_client("ecs").describe_task_definition(taskDefinition=definition)["taskDefinition"]
    # The release's tag was resolved once, at preflight: the service runs that image by its digest.
    ecr = stack.environment_client("ecr")
    tagged = ecr.describe_images(repositoryName="acme/api", imageIds=[{"imageTag": version}])["imageDetails"][0]
    artifacts = launch["artifacts"]
    assert artifacts["backend_digest"] == tagged["imageDigest"]
    assert image["containerDefinitions"][0]["image"] == pinned_image(backend_image(version), tagged["imageDigest"])
    assert artifacts["frontend_digest"].startswith("sha256:")
    assert any(event["kind"] == "artifacts" for event in launch["timeline"])
    assert f"Acme {version}".encode() in site["index.html"]
    assert [c["label"] for c in launch["results"]["bake"]["checkpoints"]] == ["T+2s", "T+4s"]
    # The functional tests: the local Synthetics ran the canary's journey in Chromium against the release.
    (run,) = launch["results"]["smoke"]["canaries"]
    assert (run["name"], run["state"], run["started"]) == ("acme-local-journeys", "PASSED", True)
    # Beside the load balancer's figures: the application's business metric published since the release, and
    # the web vitals, which nothing plays locally, recorded as no data rather than as a pass.
    final = launch["results"]["bake"]["checkpoints"][-1]
    assert final["business_metrics"]["Acme/Shop/ActiveUsers{Environment=local}"] >= 1
    assert final["web_vitals"] == {"lcp_ms": None, "inp_ms": None, "cls": None}
    assert final.get("p95_limit_ms") is None or final["p95_limit_ms"] >= 10_000
    assert {a["role"] for a in launch["approvals"]} == set(APPROVERS)
    assert stack.ended_execution(launch["execution_arn"])["status"] == "SUCCEEDED"
    # The team's channel heard it all, in the launch's thread: started, who is asked, each checkpoint, the end.
    told = wait_for_ended_notification(stack, launch["launch_id"])
    assert [(n["event"], n.get("checkpoint")) for n in told] == [
        ("started", None),
        ("awaiting_approval", None),
        ("checkpoint", "T+2s"),
        ("checkpoint", "T+4s"),
        ("ended", None),
    ]
    assert all(person in told[1]["description"] for person in stack.profile.approvals.approvers["qa_lead"])
    assert told[-1]["status"] == "SUCCEEDED"
    assert stack.pages(launch["launch_id"]) == []


def wait_for_ended_notification(stack: Any, launch_id: str, timeout: float = 10) -> list[dict[str, Any]]:
    """The launch's messages to the channel, once its end is among them (the finish tells it last)."""
    deadline = time.monotonic() + timeout
    while not stack.notifications(launch_id, "ended") and time.monotonic() < deadline:
        time.sleep(0.05)
    return stack.notifications(launch_id)


def test_a_failed_smoke_test_rolls_back_frontend_and_backend(stack: Any, api: ControllerApi) -> None:
    before = snapshot(stack)
    version = next_version()
    stack.site.unhealthy_images.add(backend_image(version))
    launch = run_approved(stack, api, version)
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert launch["error"]["error"] == "SmokeTestFailed"
    assert snapshot(stack) == before
    assert launch["changes"] == ["backend", "database", "frontend"]
    execution = stack.ended_execution(launch["execution_arn"])
    assert execution["status"] == "FAILED"
    assert execution["error"] == "LaunchRolledBack"


def test_a_blocking_preflight_failure_changes_nothing(stack: Any, api: ControllerApi) -> None:
    bucket = stack.profile.frontend.site_bucket
    s3 = stack.environment_client("s3")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    try:
        before = snapshot(stack)
        launch_id = start(stack, api, next_version())
        launch = wait(api, launch_id)
    finally:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert launch["status"] == "BLOCKED", launch["timeline"]
    assert launch["changes"] == []
    assert snapshot(stack) == before
    assert not any(event["stage"] in {"rollback", "frontend", "backend"} for event in launch["timeline"])


def test_failed_release_tests_a_vulnerable_image_and_an_api_open_to_any_origin_block_the_launch(
    stack: Any, api: ControllerApi
) -> None:
    """The checklist's newer items, by section: the release's own tests on GitHub and its image scan
    (Application), the application's CORS (Security); the smoke test's security headers pass on every
    other launch, as the release checks do (the local GitHub's CI passes every commit by default)."""
    before = snapshot(stack)
    commit = "feedface" * 5
    assert stack.github is not None
    stack.github.record_checks(
        "acme/shop",
        commit,
        {"build": "success", "unit-tests": "success", "integration-tests": "in_progress"},
        statuses={"e2e-tests": "failure"},
    )
    stack.site.cors_open = True
    with stack.broken("app.image_scan"):
        launch = wait(api, start(stack, api, next_version(), git_sha=commit[:12]))
    assert launch["status"] == "BLOCKED", launch["timeline"]
    failed = {c["id"]: c["evidence"] for c in launch["results"]["preflight"]["checks"] if c["result"] == "fail"}
    assert set(failed) == {"app.release_tests", "app.image_scan", "security.cors"}
    tests = failed["app.release_tests"]
    assert (tests["repository"], tests["commit"], tests["failing"]) == (
        "acme/shop",
        commit[:12],
        ["integration-tests", "e2e-tests"],
    )
    assert tests["checks"]["build"]["url"].startswith(stack.github.url + "/acme/shop/actions/runs/")
    assert (tests["checks"]["e2e-tests"]["result"], tests["checks"]["e2e-tests"]["kind"]) == ("failure", "status")
    # The controller's app asked for tokens narrowed to this repository: reading its checks and statuses, or (the
    # approvers' list of the commits since the live release) its contents.
    granted = list(stack.github.installation_tokens.values())
    assert granted
    assert all(g["repositories"] == ["shop"] for g in granted)
    assert all(g["permissions"] in ({"checks": "read", "statuses": "read"}, {"contents": "read"}) for g in granted)
    assert failed["app.image_scan"]["blocking"] == {"CRITICAL": 1}
    assert failed["security.cors"]["api"]["/api/me"]["any_origin_with_credentials"] is True
    assert snapshot(stack) == before


def test_a_release_that_silences_the_applications_business_metrics_rolls_back_at_the_checkpoint_judging_them(
    stack: Any, api: ControllerApi
) -> None:
    """Business metrics, post-launch: the sample site publishes its active users each second, except while it
    runs a release that broke them; the last checkpoint judges the silence (the first only records it)."""
    before = snapshot(stack)
    version = next_version()
    stack.site.silent_images.add(backend_image(version))
    launch = run_approved(stack, api, version)
    assert launch["status"] == "ROLLED_BACK", launch["results"].get("bake")
    assert launch["error"]["error"] == "BakeBreached"
    assert (
        "business metric Acme/Shop/ActiveUsers{Environment=local} has no data points since the release at T+4s"
        in (launch["error"]["cause"])
    )
    first = launch["results"]["bake"]["checkpoints"][0]
    assert (first["label"], first["business_metrics"]) == ("T+2s", {"Acme/Shop/ActiveUsers{Environment=local}": 0})
    assert snapshot(stack) == before


def test_a_rejected_approval_changes_nothing(stack: Any, api: ControllerApi) -> None:
    before = snapshot(stack)
    launch_id = start(stack, api, next_version())
    wait(api, launch_id, lambda item: item["status"] == "AWAITING_APPROVAL" or is_final(item))
    decide(stack, launch_id, "tech_lead")
    decide(stack, launch_id, "qa_lead", "reject", "regression in checkout")
    launch = wait(api, launch_id)
    assert launch["status"] == "REJECTED", launch["timeline"]
    assert "regression in checkout" in launch["error"]["cause"]
    assert launch["rollback_point"] is None
    assert snapshot(stack) == before


def test_a_failed_ecs_rollout_rolls_back(stack: Any, api: ControllerApi) -> None:
    before = snapshot(stack)
    version = next_version()
    stack.scheduler.failing_images.add(backend_image(version))
    launch = run_approved(stack, api, version)
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert launch["error"]["error"] == "BackendRolloutFailed"
    assert snapshot(stack) == before


def test_a_forced_deployment_of_a_mutable_tag_rolls_back_to_the_digest_the_service_ran(
    stack: Any, api: ControllerApi
) -> None:
    """The service runs a revision naming a mutable tag; CI pushes the release under that tag and the profile
    forces a new deployment. Its rollout fails: the rollback deploys a copy of the revision pinned to the digest
    ECS ran before (its service revision's), the tag still naming the release."""
    ecs, ecr = stack.environment_client("ecs"), stack.environment_client("ecr")
    target = stack.profile.backend
    running_version, release = next_version(), next_version()
    stack.publish_release(running_version)
    live_tag = f"live-{running_version}"

    def tag(version: str) -> str:  # what CI does: the version's image pushed under the live tag
        image = ecr.batch_get_image(repositoryName="acme/api", imageIds=[{"imageTag": version}])["images"][0]
        ecr.put_image(repositoryName="acme/api", imageManifest=image["imageManifest"], imageTag=live_tag)
        return str(image["imageId"]["imageDigest"])

    ran = tag(running_version)
    live_image = backend_image(running_version).replace(f":{running_version}", f":{live_tag}")
    current = ecs.describe_task_definition(taskDefinition=stack.service_task_definition())["taskDefinition"]
    copy = {key: current[key] for key in ("family", "taskRoleArn", "executionRoleArn", "networkMode", "cpu", "memory")}
    copy["requiresCompatibilities"] = current["requiresCompatibilities"]
    copy["containerDefinitions"] = [{**current["containerDefinitions"][0], "image": live_image}]
    mutable = ecs.register_task_definition(**copy)["taskDefinition"]["taskDefinitionArn"]
    # Deployed by hand, all at once: an earlier launch's canary configuration and hook stay on the service
    # (ECS keeps them from one UpdateService to the next), and the hook would refuse a deployment of no launch.
    [service] = ecs.describe_services(cluster=target.cluster, services=[target.service])["services"]
    rolling = {
        key: value
        for key, value in service.get("deploymentConfiguration", {}).items()
        if key not in {"canaryConfiguration", "linearConfiguration"}
    }
    by_hand = {**rolling, "strategy": "ROLLING", "lifecycleHooks": []}
    ecs.update_service(
        cluster=target.cluster, service=target.service, taskDefinition=mutable, deploymentConfiguration=by_hand
    )
    waiter = ecs.get_waiter("services_stable")  # one deployment, every desired task running
    waiter.wait(cluster=target.cluster, services=[target.service], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert stack.service_task_definition() == mutable

    use_profile(stack, backend=target.model_copy(update={"strategy": "force_new_deployment", "migration": None}))
    artifact = stack.publish_release(release)
    released = tag(release)
    stack.scheduler.failing_images.add(live_image)  # what the tag names now fails to start
    launch_id = api.start(
        environment="local",
        version=release,
        git_sha="0123456789abcdef",
        frontend_artifact=artifact,
        backend_image=live_image,
    )["launch_id"]
    approve_all(stack, api, launch_id)
    launch = wait(api, launch_id)
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert launch["error"]["error"] == "BackendRolloutFailed"
    pinned = live_image.rsplit(":", 1)[0] + "@" + ran
    assert launch["rollback_point"]["running_images"] == {target.container: pinned}
    back_to = stack.service_task_definition()
    assert back_to != mutable
    [container] = ecs.describe_task_definition(taskDefinition=back_to)["taskDefinition"]["containerDefinitions"]
    assert container["image"] == pinned
    assert released != ran
    assert any(pinned in event["message"] for event in launch["timeline"] if event["kind"] == "rolling_back")


def test_the_lock_is_released_on_every_path(stack: Any, api: ControllerApi) -> None:
    assert lock_holder() is None


def test_an_abort_at_the_gate_ends_the_launch_aborted_with_nothing_changed(stack: Any, api: ControllerApi) -> None:
    before = snapshot(stack)
    launch_id = start(stack, api, next_version())
    wait(api, launch_id, lambda item: item["status"] == "AWAITING_APPROVAL")
    # A reason that would speak in the team's channel and on the page if it were shown as written.
    reason = "wrong artifact attached <!channel> <@U024BE7LH> <https://evil.example|click here> <b>bold</b>"
    api.abort(launch_id, reason)
    launch = wait(api, launch_id)
    assert launch["status"] == "ABORTED", launch["timeline"]
    assert reason in launch["error"]["cause"]  # recorded as the caller wrote it: the record is the audit
    [ended] = stack.notifications(launch_id, "ended")
    told = ended["description"] + " ".join(ended["manual_steps"]) + ended["cause"]
    assert "wrong artifact attached" in told
    assert not any(live in told for live in ("<!channel>", "<@U024BE7LH>", "<https://", "<b>")), told
    with urllib.request.urlopen(api.view_link(launch_id)["url"], timeout=10) as answer:  # the launch page
        page = answer.read().decode()
    assert "wrong artifact attached &lt;!channel&gt;" in page
    assert "<b>bold</b>" not in page
    assert {request["state"] for request in launch["approval_requests"]} == {"closed"}
    assert snapshot(stack) == before
    assert lock_holder() is None


def test_an_abort_while_baking_releases_the_bake_at_once_and_rolls_back_what_the_launch_changed(
    stack: Any, api: ControllerApi
) -> None:
    # The checkpoints far off: only the abort can end this bake in the test's time.
    use_profile(stack, bake=stack.profile.bake.model_copy(update={"checkpoints": [60, 120]}))
    before = snapshot(stack)
    launch_id = start(stack, api, next_version())
    approve_all(stack, api, launch_id)
    wait(
        api,
        launch_id,
        lambda item: any(e["kind"] == "waiting" and e["stage"] == "bake" for e in item["timeline"]) or is_final(item),
    )
    assert len(launch_alarms(stack, launch_id)) == 2  # error rate and p95 latency, made for this bake
    api.abort(launch_id, "support reports login errors")
    launch = wait(api, launch_id)
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert launch["error"]["error"] == "LaunchAborted"
    # Released from the alarm watch by the abort itself (a second or two by the launch's own record), not by
    # the checkpoint a minute in: a bound a loaded machine cannot race.
    released = first_event_at(launch, "status", "rollback") - first_event_at(launch, "abort_requested")
    assert 0 < released.total_seconds() < 30, launch["timeline"]
    assert snapshot(stack) == before
    assert not launch_alarms(stack, launch_id)  # the launch's alarms go with it
    assert len(launch["timeline"][-1]["details"]["launch_alarms_deleted"]) == 2


def test_a_launch_that_succeeded_is_rolled_back_on_request_as_its_own_execution(stack: Any, api: ControllerApi) -> None:
    before = snapshot(stack)
    launched = run_approved(stack, api, next_version())
    assert launched["status"] == "SUCCEEDED", launched["timeline"]
    assert snapshot(stack) != before

    answer = api.rollback(launched["launch_id"], "support reports checkout errors an hour later")
    assert answer["rollback_of"] == launched["launch_id"]
    rollback = wait(api, answer["launch_id"])
    assert rollback["status"] == "ROLLED_BACK", rollback["timeline"]
    assert rollback["error"]["error"] == "RollbackRequested"
    assert "support reports checkout errors" in rollback["error"]["cause"]
    assert rollback["rollback_of"]["launch_id"] == launched["launch_id"]
    assert rollback["requested_by"] == "riley.release@acme.example"
    assert snapshot(stack) == before
    assert lock_holder() is None
    execution = stack.ended_execution(rollback["execution_arn"])
    assert execution["status"] == "SUCCEEDED"

    original = api.get(launched["launch_id"])
    assert original["rolled_back_by"] == answer["launch_id"]
    assert original["timeline"][-1]["kind"] == "rollback_requested"
    with pytest.raises(ApiError) as again:
        api.rollback(launched["launch_id"], "once more, by mistake")
    assert (again.value.status, again.value.body["error"]["code"]) == (409, "not_rollbackable")


def test_a_warning_in_preflight_is_recorded_and_does_not_stop_the_launch(stack: Any, api: ControllerApi) -> None:
    with stack.broken("monitoring.log_retention"):
        launch = run_approved(stack, api, next_version())
    assert launch["status"] == "SUCCEEDED", launch["timeline"]
    report = launch["results"]["preflight"]
    [warned] = [check for check in report["checks"] if check["result"] != "pass"]
    assert (warned["id"], warned["result"], warned["severity"]) == ("monitoring.log_retention", "warn", "warning")
    assert "warnings: monitoring.log_retention" in next(
        e["message"] for e in launch["timeline"] if e["kind"] == "preflight"
    )


def test_an_abort_while_the_backend_rolls_out_rolls_back_what_the_launch_changed(
    stack: Any, api: ControllerApi
) -> None:
    before = snapshot(stack)
    version = next_version()
    stack.scheduler.slow_images.add(backend_image(version))
    launch_id = start(stack, api, version)
    approve_all(stack, api, launch_id)
    rolling = wait(api, launch_id, lambda item: "backend" in item["changes"] or is_final(item))
    assert rolling["status"] == "DEPLOYING", rolling["timeline"]
    api.abort(launch_id, "the wrong image was tagged")
    launch = wait(api, launch_id)
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert launch["error"]["error"] == "LaunchAborted"
    assert sorted(launch["changes"]) == ["backend", "database", "frontend"]
    assert snapshot(stack) == before
    assert lock_holder() is None


def test_a_running_launch_keeps_the_profile_it_started_with_and_the_next_one_takes_the_new(
    stack: Any, api: ControllerApi, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The release engineer pushes a new profile while a launch waits for sign-off (its approvers, its
    bake, its site bucket), with `launchctl profile push` and no redeploy: the launch is signed off by the
    approvers and baked at the checkpoints it started with, and changes the bucket it started with; the
    next launch follows the new version."""
    import json

    from launchctl import cli

    def push(profile: dict[str, Any]) -> dict[str, Any]:
        path = tmp_path / "local.json"
        path.write_text(json.dumps(profile))
        argv = ["--api", stack.api_url, "--json", "profile", "push", "--env", "local", str(path)]
        assert cli.main(argv) == cli.EXIT_OK
        return dict(json.loads(capsys.readouterr().out))

    original = stack.profile.model_dump(mode="json")
    launch_id = start(stack, api, next_version())
    gate = wait(api, launch_id, lambda item: item["status"] == "AWAITING_APPROVAL" or is_final(item))
    assert gate["status"] == "AWAITING_APPROVAL", gate["timeline"]
    started_with = gate["profile_version"]
    assert isinstance(started_with, int)
    assert "profile" not in gate
    changed = json.loads(json.dumps(original))
    changed["bake"]["checkpoints"] = [1]
    changed["approvals"]["approvers"]["tech_lead"] = ["tomas.lead@acme.example"]
    changed["frontend"]["site_bucket"] = "acme-site-moved"
    try:
        pushed = push(changed)
        assert pushed["version"] > started_with
        assert "tomas.lead@acme.example" in pushed["approvers"]["subscribed"]
        approve_all(stack, api, launch_id)  # tech_lead signed off by the approver the launch started with
        done = wait(api, launch_id)
        assert done["status"] == "SUCCEEDED", done["timeline"]
        assert [point["offset_seconds"] for point in done["results"]["bake"]["checkpoints"]] == [2, 4]
        assert done["profile_version"] == started_with
        assert stack.site_objects()  # the bucket it started with holds the release
        following = start(stack, api, next_version())
        assert api.get(following)["profile_version"] == pushed["version"]
        # It looks at the new bucket, which the environment's role does not reach until its stack is updated
        # with the profile's role parameters: refused before anything changes.
        blocked = wait(api, following)
        assert blocked["status"] == "BLOCKED", blocked["timeline"]
        versioning = next(c for c in blocked["results"]["preflight"]["checks"] if c["id"] == "s3.site_versioning")
        assert (versioning["resource"], versioning["evidence"]["unreadable"]) == ("acme-site-moved", "AccessDenied")
    finally:
        push(original)
        stack.forget_profiles()
