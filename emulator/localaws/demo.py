"""`make demo`: complete launches on the embedded local AWS: one succeeds, five roll back."""

from __future__ import annotations

import hashlib
import itertools
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from launchctl.client import ControllerApi, format_event, is_final
from localaws.inbox import decide_by_link
from localaws.infrastructure import backend_image
from localaws.stack import LocalStack

APPROVERS = {
    "tech_lead": "tess.lead@acme.example",
    "product_manager": "pat.pm@acme.example",
    "qa_lead": "quinn.qa@acme.example",
}


@dataclass
class Scenario:
    title: str
    version: str
    expect: str
    unhealthy: bool = False
    alarm_during_bake: bool = False
    broken_journey: bool = False  # every page loads, but the dashboard's data does not: the canary finds it
    by_github_job: bool = False  # started as the release workflow (OIDC token), else by an engineer (IAM)
    flaky: bool = False  # one page request in five fails: the canary's step, or the bake, finds it
    canary: bool = False  # the backend's traffic moved by ECS's CANARY strategy, each step judged


def git_sha(version: str) -> str:
    return hashlib.sha1(version.encode()).hexdigest()[:12]  # noqa: S324 - a demo commit id


def launch_and_approve(stack: LocalStack, api: ControllerApi, version: str, **asked: Any) -> str:
    """Start a launch of `version` (into local unless `asked` says otherwise); once the gate opens, each
    approver opens their emailed link and approves."""
    request = {
        "environment": "local",
        "version": version,
        "git_sha": git_sha(version),
        "frontend_artifact": stack.publish_release(version),
        "backend_image": backend_image(version),
    }
    launch = api.start(**(request | asked))
    launch_id = launch["launch_id"]
    caller = api.get(launch_id)["caller"]
    how = "a GitHub OIDC token the local issuer signed" if caller["kind"] == "github" else "an IAM token (SigV4)"
    print(f"   started by {caller['name']}, verified from {how}", flush=True)
    current = api.wait(launch_id, lambda item: item["status"] == "AWAITING_APPROVAL" or is_final(item), 60)
    if current["status"] == "AWAITING_APPROVAL":
        show_release_checks(stack, launch_id)
        for role in stack.profile.approvals.roles:
            approve_from_inbox(stack, launch_id, role, APPROVERS[role])
    return str(launch_id)


def show_release_checks(stack: LocalStack, launch_id: str) -> None:
    """What every approval email says of the release's own tests (its commit's GitHub checks, with links)."""
    mail = next(m for m in stack.outbox() if m["launch_id"] == launch_id)
    lines = mail["body"].splitlines()
    header = "The release's checks on its commit:"
    if header not in lines:
        return
    print("   [every approval email lists the release's checks on its commit]", flush=True)
    for line in itertools.takewhile(lambda line: line.startswith("  - "), lines[lines.index(header) + 1 :]):
        print(f"     {line.strip()}")


def approve_from_inbox(stack: LocalStack, launch_id: str, role: str, approver: str) -> None:
    """Find the approver's email for this launch in the outbox, open its link, tick every box, approve."""
    mail = next(m for m in stack.outbox() if m["launch_id"] == launch_id and m["role"] == role and m["to"] == approver)
    print(f"   [email to {approver}] {mail['subject']}\n     {mail['link']}", flush=True)
    answer = decide_by_link(mail["link"], "approve")
    print(f"   [{approver} opened the link, ticked the attestations, approved] {answer.status}: {answer.text}")


def run_scenario(stack: LocalStack, scenario: Scenario) -> dict[str, Any]:
    assert stack.site is not None
    api = stack.github_api() if scenario.by_github_job else stack.api_as()
    if scenario.unhealthy:
        stack.site.unhealthy_images.add(backend_image(scenario.version))
    if scenario.broken_journey:
        stack.site.broken_journey_images.add(backend_image(scenario.version))
    if scenario.flaky:
        stack.site.flaky_images.add(backend_image(scenario.version))
        stack.steady_crowd = True  # the same traffic all along, so the two ways of launching compare
    if scenario.canary:
        stack.shift_traffic_in_steps()
    print(f"\n== {scenario.title}: launching {scenario.version} into local", flush=True)
    started = time.monotonic()
    launch_id = launch_and_approve(stack, api, scenario.version)
    if scenario.alarm_during_bake:
        trip_alarm_while_baking(stack, api, launch_id)
    final = api.wait(launch_id, is_final, timeout=120)
    if scenario.alarm_during_bake:
        stack.set_alarm(stack.profile.bake.alarm_names[0], "OK")
    if scenario.canary:
        stack.shift_traffic_at_once()
    if scenario.flaky:
        final["exposure"] = exposure(stack, final)
        stack.site.flaky_images.discard(backend_image(scenario.version))
        stack.steady_crowd = False
    print(f"   {launch_id}: {final['status']} in {time.monotonic() - started:.1f}s (expected {scenario.expect})")
    final["page"] = stack.api_as().view_link(launch_id)["url"]
    print(f"   launch page (read-only, signed, 7 days): {final['page']}")
    for event in final["timeline"]:
        print(format_event(event))
    return final


def exposure(stack: LocalStack, launch: dict[str, Any]) -> dict[str, Any]:
    """How many requests the flaky revision served before the launch rolled it back, as the launch recorded it
    (on its `finished` event, written with the final status), against every request the load balancer served
    during the launch."""
    timeline = launch["timeline"]
    begun, ended = (datetime.fromisoformat(timeline[index]["at"]) for index in (0, -1))
    total = stack.load_balancer_requests(begun, ended)
    finished = next(event for event in reversed(timeline) if event["kind"] == "finished")
    recorded = finished["details"]["exposure"]
    served, failed = recorded["requests"], recorded["errors"]
    share = served / total if total else 0.0
    bound = "at most " if recorded["upper_bound"] else ""
    print(
        f"   the flaky revision served {bound}{served} requests ({failed} failed), {recorded['how']}: {share:.1%} of "
        f"the {total} requests the load balancer served during the launch"
    )
    return {"served": served, "failed": failed, "total": total, "share": share}


def trip_alarm_while_baking(stack: LocalStack, api: ControllerApi, launch_id: str) -> None:
    """Once the release bakes and its alarm watch is open, set its 5xx alarm to ALARM through the emulated
    CloudWatch: CloudWatch's event fails the bake."""

    def watching(item: dict[str, Any]) -> bool:
        return any(e["kind"] == "waiting" and e["stage"] == "bake" for e in item["timeline"]) or is_final(item)

    baking = api.wait(launch_id, watching, 120)
    if baking["status"] == "BAKING":
        alarm = stack.profile.bake.alarm_names[0]
        print(f"   (the release is baking: setting CloudWatch alarm {alarm} to ALARM)", flush=True)
        stack.set_alarm(alarm, "ALARM")


SCENARIOS = [
    Scenario("A healthy release, from the release workflow", "1.1.0", "SUCCEEDED", by_github_job=True),
    Scenario("A release whose health check fails", "1.2.0", "ROLLED_BACK", unhealthy=True),
    Scenario("A release whose error-rate alarm fires during the bake", "1.3.0", "ROLLED_BACK", alarm_during_bake=True),
    Scenario(
        "A release whose dashboard loads but its data does not (the functional tests' canary)",
        "1.4.0",
        "ROLLED_BACK",
        broken_journey=True,
    ),
    Scenario(
        "A release that fails one request in five, launched as a canary (10 % first, judged against the old revision)",
        "1.5.0",
        "ROLLED_BACK",
        flaky=True,
        canary=True,
    ),
    Scenario("The same kind of release launched all at once", "1.6.0", "ROLLED_BACK", flaky=True),
]


def run_demo() -> int:
    print("starting the embedded local AWS (moto, Step Functions executing statemachines/launch.asl.json)", flush=True)
    with LocalStack() as stack:
        return 0 if run_scenarios(stack, SCENARIOS) else 1


def run_scenarios(stack: LocalStack, scenarios: list[Scenario]) -> bool:
    """Run each scenario in turn, print its timeline and what is live; True when all ended as expected."""
    started = time.monotonic()
    controller = stack.client("sts").get_caller_identity()["Account"]
    environment = stack.environment_client("sts").get_caller_identity()["Account"]
    print(
        f"\n   the controller runs in account {controller}; the environment {stack.profile.name!r} is in account "
        f"{environment}, where each stage acts as {stack.environment_role} (a session per launch)",
        flush=True,
    )
    results = [run_scenario(stack, scenario) for scenario in scenarios]
    promoted = promote(stack, results)
    serving = stack.service_task_definition().rsplit("/", 1)[-1]
    homepage = stack.site_objects().get("index.html", b"").decode()
    print("\n== What is live now")
    heading = homepage[homepage.find("<h1>") + 4 : homepage.find("</h1>")]
    print(f"   ECS service runs {serving}; the homepage says {heading!r}")
    print(f"   every launch into local: {stack.api_as().view_link(environment=stack.profile.name)['url']}")
    print_metrics(stack, results)
    print_exposure(results, scenarios)
    print_lark(stack)
    sealed = print_evidence(stack, results + promoted)
    ok, outcome = verdict(results, scenarios)
    if promoted:
        ok = ok and [launch["status"] for launch in promoted] == ["BLOCKED", "SUCCEEDED"]
        outcome += f"; promoted: {promoted[0]['status']} (another image), {promoted[1]['status']} (the same release)"
    ok = ok and sealed
    print(f"\n{outcome} ({time.monotonic() - started:.1f}s)")
    return ok


PRODUCTION_LIKE = "local-production"


def promote(stack: LocalStack, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first release that SUCCEEDED in local (standing for staging) promoted to a production-like
    environment whose profile takes only releases launched there first: once with another image under the
    same commit (BLOCKED, naming both digests), then as `launchctl promote ID --to local-production` does (the
    image by the digest the launch deployed, the same build). The two launches, as they ended."""
    from chalicelib.domain.profiles import EnvironmentProfile
    from chalicelib.platform.profile_store import parameter_name, push_profile, stored_version

    source = next((result for result in results if result["status"] == "SUCCEEDED"), None)
    if source is None:
        return []
    request, artifacts = source["request"], source["artifacts"]
    print(f"\n== Promotion: {request['version']} from local (standing for staging) to {PRODUCTION_LIKE}", flush=True)
    ssm = stack.client("ssm")
    local = stored_version(ssm, "local", path=stack.profiles_path).profile.model_dump(mode="json")
    production = EnvironmentProfile.model_validate(
        local | {"name": PRODUCTION_LIKE, "promotion": {"from": "local", "within_hours": 72}}
    )
    push_profile(ssm, production, stack.profiles_path)
    print(f'   pushed the {PRODUCTION_LIKE} profile: the same emulated environment, [promotion] from = "local"')
    # Production has its own load balancer: the flaky releases' errors of the last minute, served by the one
    # both profiles share here, are not the promoted release's (its bake would count them).
    stack.forget_load_balancer_figures()
    api = stack.api_as()
    try:
        rebuilt = f"{request['version']}-rebuilt"  # the same commit built again: another image, another build
        print(f"   a launch naming {source['launch_id']} but deploying {rebuilt}'s image and build:", flush=True)
        other = api.start(
            environment=PRODUCTION_LIKE,
            version=request["version"],
            git_sha=request["git_sha"],
            frontend_artifact=stack.publish_release(rebuilt),
            backend_image=backend_image(rebuilt),
            promote_from=source["launch_id"],
        )
        blocked = api.wait(other["launch_id"], is_final, timeout=120)
        said = next(e["message"] for e in blocked["timeline"] if e["kind"] == "preflight")
        print(f"   {blocked['launch_id']}: {blocked['status']}; {said[said.find('release.promoted_from') :]}")
        image = artifacts["backend_image"].split(":")[0] + "@" + artifacts["backend_digest"]
        print(f"   launchctl promote {source['launch_id']} --to {PRODUCTION_LIKE} (image {image})", flush=True)
        launch_id = launch_and_approve(
            stack,
            api,
            request["version"],
            environment=PRODUCTION_LIKE,
            backend_image=image,
            frontend_artifact=request["frontend_artifact"],
            promote_from=source["launch_id"],
        )
        final = api.wait(launch_id, is_final, timeout=120)
        deploys = (final.get("artifacts") or {}).get("promotion") or {}
        print(
            f"   {launch_id}: {final['status']}; promoted from {deploys.get('environment')} launch "
            f"{deploys.get('launch_id')} (chain: {' -> '.join([*deploys.get('chain', []), launch_id])})"
        )
        final["page"] = api.view_link(launch_id)["url"]
        return [blocked, final]
    finally:
        ssm.delete_parameter(Name=parameter_name(PRODUCTION_LIKE, stack.profiles_path))
        stack.forget_profiles()


def print_exposure(results: list[dict[str, Any]], scenarios: list[Scenario]) -> None:
    """The flaky releases' exposure side by side: as a canary, and all at once."""
    flaky = [(scenario, result) for scenario, result in zip(scenarios, results, strict=True) if "exposure" in result]
    if not flaky:
        return
    print("\n== How many requests a release that fails one in five reached")
    for scenario, result in flaky:
        seen = result["exposure"]
        how = "as a canary" if scenario.canary else "all at once"
        print(
            f"   {scenario.version} {how:<12} {seen['served']:>5} requests served, {seen['failed']:>4} failed: "
            f"{seen['share']:.1%} of the launch's {seen['total']}"
        )


def print_evidence(stack: LocalStack, results: list[dict[str, Any]]) -> bool:
    """Each launch's evidence checked as an auditor would, offline against the evidence key's public half; and
    the first's again with one event changed, to show where the check stops. True when every launch's holds."""
    import copy

    from chalicelib.domain.evidence_chain import verify

    environment = stack.deployment.functions["api_handler"].environment if stack.deployment else {}
    public_key = stack.client("kms").get_public_key(KeyId=environment["EVIDENCE_KEY_ID"])["PublicKey"]
    print("\n== Evidence (launchctl evidence ID, checked offline like launchctl evidence verify FILE --public-key)")
    api, holds = stack.api_as(), True
    documents = [api.evidence(result["launch_id"]) for result in results]
    for document in documents:
        found = verify(document, public_key=public_key)
        holds = holds and found.ok and found.sealed_through is not None
        said = "holds" if found.problem is None else f"DOES NOT HOLD at event {found.problem.sequence}"
        print(
            f"   {found.launch_id:<32} {found.chained:>3} events chained, sealed through {found.sealed_through}: {said}"
        )
    if documents:
        edited = copy.deepcopy(documents[0])
        edited["timeline"][2]["event"]["message"] += " (edited)"
        problem = verify(edited, public_key=public_key).problem
        print(f"   the same with event 3's message edited: {problem.reason if problem else 'holds (!)'}")
        holds = holds and problem is not None and problem.sequence == 3
    return holds


def print_lark(stack: LocalStack) -> None:
    """What the team's Lark group saw: each card the stand-in accepted, its signature checked as Lark does."""
    assert stack.lark is not None
    cards = stack.lark.cards
    print(f"\n== The team's Lark group: {len(cards)} cards arrived, each signed (refused: {len(stack.lark.refused)})")
    for card in cards[-3:]:
        print(f"   [{card['header']['template']}] {card['header']['title']['content']}")


def print_metrics(stack: LocalStack, results: list[dict[str, Any]]) -> None:
    """Each launch as its metrics tell it (the EMF lines the functions wrote), not as its timeline does."""
    print("\n== What the metrics say (embedded metric format, namespace LaunchController)")
    print(f"   {'launch':<32} {'ended':<13} {'took':>7} {'sign-off wait':>14} {'breach to rollback':>19}")
    for result in results:
        values = {m["name"]: m["value"] for m in stack.launch_metrics(result["launch_id"])}
        ended = next(
            (
                name.removeprefix("Launches")
                for name in values
                if name.startswith("Launches") and name != "LaunchesStarted"
            ),
            "?",
        )

        def seconds(name: str, values: dict[str, Any] = values) -> str:
            return f"{values[name]:.1f}s" if name in values else "-"

        print(
            f"   {result['launch_id']:<32} {ended:<13} {seconds('LaunchDuration'):>7} "
            f"{seconds('ApprovalWait'):>14} {seconds('BreachToRollback'):>19}"
        )


def verdict(results: list[dict[str, Any]], scenarios: list[Scenario]) -> tuple[bool, str]:
    """Whether every launch ended as its scenario expects, and the line that says so."""
    ok = all(result["status"] == scenario.expect for result, scenario in zip(results, scenarios, strict=True))
    outcome = ", ".join(f"{s.version} {r['status']}" for r, s in zip(results, scenarios, strict=True))
    return ok, f"{'demo passed' if ok else 'DEMO FAILED'}: {outcome}"
