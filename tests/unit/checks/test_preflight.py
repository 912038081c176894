"""Preflight checks against moto-emulated infrastructure: every check passes, fails and errors as it should."""

from __future__ import annotations

from typing import Any

import pytest
from localaws.infrastructure import BREAKERS, GITHUB_ITEMS, RELEASE_DEFECTS, backend_image, publish_release

from chalicelib.checks.checklist import ACCESS_CHECK, CHECK_IDS, Release, run_preflight, unused_severity_keys
from launchctl.examples import example_names, example_profile
from tests.conftest import UNIT_ACCOUNT, Denied, put_alarms

TOPIC = "notifications"


@pytest.fixture
def ready(aws: Any, profile: Any) -> Any:
    """The local profile's environment as the stack builds it, alarms and on-call on a notifications topic."""
    from localaws.infrastructure import create_environment

    topic = aws("sns").create_topic(Name=TOPIC)["TopicArn"]
    create_environment(aws, profile, topic)
    aws.topic = topic
    return aws


def _break(aws: Any, profile: Any, check_id: str) -> None:
    """Break the item; an item releases carry (RELEASE_DEFECTS) stays broken in the release published next."""
    BREAKERS[check_id](aws, profile)
    if check_id in RELEASE_DEFECTS:
        aws.defects = {*getattr(aws, "defects", set()), check_id}


def _run(aws: Any, profile: Any, release: bool = True) -> Any:
    named = None
    if release:
        named = Release(
            publish_release(aws, "1.1.0", getattr(aws, "defects", set())), backend_image("1.1.0", UNIT_ACCOUNT)
        )
    return run_preflight(profile, aws, named, getattr(aws, "topic", ""))


def test_the_bootstrapped_environment_passes_every_check(ready: Any, profile: Any) -> None:
    report = _run(ready, profile)
    failing = {c.id: c.evidence for c in report.checks if c.result != "pass"}
    # The release's tests are read on GitHub: tests/unit/checks/test_release_checks.py, against the local GitHub.
    assert failing == {"app.release_tests": {"reason": "the profile does not ask for it"}}
    assert [c.id for c in report.checks] == CHECK_IDS
    assert report.passed


# Items whose breaker also takes away what a second check reads: that check fails with it, and says why.
CASCADES = {
    "app.image_in_ecr": {"app.image_scan"},  # no image, so no scan findings to read
    "monitoring.alarms": {"monitoring.no_alarm_firing"},  # an alarm that is gone cannot be read as quiet
    "s3.backup_bucket": {"s3.bucket_keys"},  # a bucket that is gone has no encryption to read
    "ecs.service_active": {"ecs.traffic_shifting"},  # a service that is gone has no load balancers to read
}


def _breaker_groups() -> list[list[str]]:
    """The breakable items dealt into groups of at most one per resource family, no item with its cascade.

    Checks of different families read different resources, so items broken together in one environment
    still each show their own check failing; one environment per group instead of one per item keeps the
    matrix to a handful of environments."""
    # The environment's role is judged where it is assumed (tests/unit/platform/test_environment_access.py, and on
    # the local stack, tests/integration/test_faults.py): a unit test's one account has no role to distrust.
    families: dict[str, list[str]] = {}
    for check_id in sorted(set(BREAKERS) - {ACCESS_CHECK}):
        families.setdefault(check_id.split(".")[0], []).append(check_id)
    groups: list[list[str]] = [[] for _ in range(max(len(items) for items in families.values()))]
    for items in families.values():
        for index, check_id in enumerate(items):
            groups[index].append(check_id)
    return groups


@pytest.mark.parametrize("broken", _breaker_groups(), ids=lambda group: "+".join(group))
def test_each_check_fails_when_its_item_is_broken_and_no_other_check_does(
    ready: Any, profile: Any, broken: list[str]
) -> None:
    for check_id in broken:
        _break(ready, profile, check_id)
    report = _run(ready, profile)
    by_id = {c.id: c for c in report.checks}
    for check_id in broken:
        result = by_id[check_id]
        assert result.evidence, result
        expected = "fail" if result.severity == "blocking" else "warn"
        # A resource the breaker took away is unreadable: a failure even where the check only warns.
        assert result.result == ("fail" if "unreadable" in result.evidence else expected), result
    cascaded = set().union(*(CASCADES.get(check_id, set()) for check_id in broken))
    assert not cascaded & set(broken), "an item and its cascade must be broken apart"
    not_passing = {c.id for c in report.checks if c.result != "pass"} - {"app.release_tests"}
    assert not_passing == set(broken) | cascaded


def test_the_breaker_groups_cover_every_item_once() -> None:
    grouped = [check_id for group in _breaker_groups() for check_id in group]
    assert sorted(grouped) == sorted(set(BREAKERS) - {ACCESS_CHECK})
    for group in _breaker_groups():
        assert len({check_id.split(".")[0] for check_id in group}) == len(group)


def test_every_check_has_a_way_to_break_it() -> None:
    assert sorted([*BREAKERS, *GITHUB_ITEMS]) == sorted(CHECK_IDS)


def test_an_empty_account_fails_every_check_and_passes_none(aws: Any, profile: Any) -> None:
    report = run_preflight(
        profile, aws, Release("s3://nothing-here/releases/1/", backend_image("1.1.0", UNIT_ACCOUNT)), ""
    )
    # The environment's role is reachable; nothing it should find is there.
    assert [c.id for c in report.checks if c.result == "pass"] == ["access.environment_role"]
    assert all(c.evidence for c in report.checks)
    # With no image there is no scan to read: skipped, naming why, rather than a second failure.
    scan = next(c for c in report.checks if c.id == "app.image_scan")
    assert (scan.result, scan.evidence) == (
        "skipped",
        {"reason": "not run: app.image_in_ecr (Backend image exists in ECR) did not pass"},
    )


def test_a_failure_reads_as_words_in_the_timeline_never_a_repr() -> None:
    from chalicelib.domain.progress import CheckResult

    check = CheckResult(
        id="app.image_in_ecr",
        title="Backend image exists in ECR",
        section="Application",
        result="fail",
        resource="release image",
        evidence={"image": "web:1.2.0", "digest": None, "findings": {"HIGH": 2}, "ok": False, "tags": ["a", "b"]},
    )
    assert check.in_words == (
        "app.image_in_ecr (Backend image exists in ECR): image: web:1.2.0; digest: none; findings: HIGH 2; ok: no; "
        "tags: a, b"
    )


def test_access_denied_is_a_failure_that_says_so_never_a_pass(aws: Any, profile: Any) -> None:
    def client(service: str) -> Any:
        return aws(service) if service == "sts" else Denied(service)

    report = run_preflight(profile, client, Release("s3://a/b/", backend_image("1.1.0", UNIT_ACCOUNT)), "arn:aws:sns:x")
    refused = [
        c
        for c in report.checks
        # The last two run after another check passes: skipped, naming it.
        if c.id not in {"access.environment_role", "app.release_tests", "app.image_scan", "ecs.traffic_shifting"}
    ]
    assert {c.result for c in refused} == {"fail"}
    assert {c.evidence.get("unreadable") for c in refused} == {"AccessDenied"}


def test_a_role_that_cannot_be_assumed_is_one_blocking_failure_and_nothing_else_runs(profile: Any) -> None:
    report = run_preflight(profile, Denied, Release("s3://a/b/", backend_image("1.1.0", UNIT_ACCOUNT)), "arn:aws:sns:x")
    assert [(c.id, c.result) for c in report.blocking_failures] == [("access.environment_role", "fail")]
    assert report.checks[0].evidence["unreadable"] == "AccessDenied"
    assert report.checks[0].resource == profile.target.role_arn
    assert {c.result for c in report.checks[1:]} == {"skipped"}
    assert not report.passed


def test_a_role_in_another_account_than_the_profile_names_fails(aws: Any, profile: Any) -> None:
    elsewhere = profile.target.role_arn.replace(f":{profile.target.account_id}:", ":999999999999:")
    moved = profile.model_copy(update={"target": profile.target.model_copy(update={"role_arn": elsewhere})})
    report = run_preflight(moved, aws, None, "")
    assert report.checks[0].result == "fail"
    assert report.checks[0].evidence["account"] == "123456789012"


def test_without_a_release_the_application_checks_are_skipped_with_the_reason(ready: Any, profile: Any) -> None:
    report = _run(ready, profile, release=False)
    skipped = {c.id: c.evidence["reason"] for c in report.checks if c.result == "skipped"}
    assert skipped == {
        "app.bundle_budget": "no release named (frontend_artifact)",
        "app.image_in_ecr": "no release named (backend_image)",
        "app.image_scan": "no release named (backend_image)",
        "app.release_tests": "the profile does not ask for it",
    }


def test_a_profile_turns_a_check_into_a_warning_or_skips_it(ready: Any, profile: Any) -> None:
    for check_id in ("monitoring.log_retention", "monitoring.dashboard", "elb.access_logs"):
        BREAKERS[check_id](ready, profile)
    warnings = {"monitoring.log_retention": "warning", "monitoring.dashboard": "warning"}
    skip = {"elb.access_logs": "no ALB logs here"}
    tuned = profile.model_copy(
        update={"preflight": profile.preflight.model_copy(update={"severity": warnings, "skip": skip})}
    )
    report = _run(ready, tuned)
    by_id = {c.id: c for c in report.checks}
    assert (by_id["monitoring.log_retention"].result, by_id["monitoring.log_retention"].severity) == ("warn", "warning")
    # A resource that cannot be read is a failure even where it only warns; it does not block.
    assert by_id["monitoring.dashboard"].result == "fail"
    assert by_id["monitoring.dashboard"].evidence["unreadable"] == "ResourceNotFound"
    assert by_id["elb.access_logs"].result == "skipped"
    assert by_id["elb.access_logs"].evidence == {"reason": "no ALB logs here"}
    assert report.passed


def test_an_alarm_already_firing_blocks(ready: Any, profile: Any) -> None:
    ready("cloudwatch").set_alarm_state(
        AlarmName=profile.bake.alarm_names[0], StateValue="ALARM", StateReason="a real incident"
    )
    [failure] = _run(ready, profile).blocking_failures
    assert (failure.id, failure.evidence) == ("monitoring.no_alarm_firing", {"in_alarm": [profile.bake.alarm_names[0]]})


def test_no_secret_value_appears_in_the_report(ready: Any, profile: Any) -> None:
    values = [
        ready("secretsmanager").get_secret_value(SecretId=getattr(profile.preflight.secrets, role))["SecretString"]
        for role in ("database_password", "jwt_secret", "github_oauth")
    ]
    text = _run(ready, profile).model_dump_json()
    assert not any(value in text for value in values)


@pytest.mark.parametrize("environment_name", example_names())
def test_profiles_name_only_checks_that_exist(environment_name: str) -> None:
    assert unused_severity_keys(example_profile(environment_name)) == []


def _api_answering_cors(allow_any_origin: bool) -> Any:
    """The application's API: a CORS preflight from the site's origin only, or (misconfigured) any origin."""
    import threading
    from http.server import BaseHTTPRequestHandler

    from localaws.servers import LoopbackServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            return

        def do_OPTIONS(self) -> None:
            origin = self.headers.get("Origin", "")
            self.send_response(204)
            if allow_any_origin or origin == "https://www.acme.example":
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Access-Control-Allow-Credentials", "true")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = LoopbackServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize(("allow_any_origin", "expected"), [(False, "pass"), (True, "fail")])
def test_an_api_that_lets_any_origin_read_with_credentials_fails_cors(
    ready: Any, profile: Any, allow_any_origin: bool, expected: str
) -> None:
    server = _api_answering_cors(allow_any_origin)
    try:
        smoke = profile.smoke.model_copy(update={"base_url": f"http://127.0.0.1:{server.server_address[1]}"})
        preflight = profile.preflight.model_copy(update={"cors_paths": ["/api/me"]})
        probed = profile.model_copy(update={"smoke": smoke, "preflight": preflight})
        [result] = [c for c in run_preflight(probed, ready, None, "").checks if c.id == "security.cors"]
    finally:
        server.shutdown()
        server.server_close()
    assert result.result == expected, result.evidence
    assert result.evidence["api"]["/api/me"]["any_origin_with_credentials"] is allow_any_origin


def test_a_custom_response_headers_policy_is_read_for_the_headers_it_sets(ready: Any, profile: Any) -> None:
    """The managed SecurityHeadersPolicy is known; any other policy is read (moto has none: a stand-in)."""
    from localaws.infrastructure import _change_distribution

    _change_distribution(lambda config: config["DefaultCacheBehavior"].update(ResponseHeadersPolicyId="custom-1"))(
        ready, profile
    )
    security = {"StrictTransportSecurity": {}, "ContentTypeOptions": {}, "FrameOptions": {}}

    class CloudFront:
        def __init__(self, real: Any) -> None:
            self._real = real

        def __getattr__(self, name: str) -> Any:
            return getattr(self._real, name)

        def get_response_headers_policy(self, Id: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
            assert Id == "custom-1"
            config = {"Name": "custom", "SecurityHeadersConfig": security}
            return {"ResponseHeadersPolicy": {"Id": Id, "ResponseHeadersPolicyConfig": config}}

    def client(service: str) -> Any:
        return CloudFront(ready(service)) if service == "cloudfront" else ready(service)

    [result] = [c for c in run_preflight(profile, client, None, "").checks if c.id == "security.headers"]
    assert result.result == "fail"
    assert result.evidence["behaviours_lacking"] == {"*": ["ReferrerPolicy"]}


def test_an_environment_outside_us_east_1_reads_its_distributions_web_acl_in_us_east_1(aws: Any, profile: Any) -> None:
    """WAF answers a CLOUDFRONT web ACL in us-east-1 only: the ALB's web ACL is read in the environment's
    region, the distribution's in us-east-1 (as an ACM certificate of CloudFront's is)."""
    from localaws.infrastructure import create_environment
    from localaws.sessions import shared_session

    from chalicelib.platform.aws import placed

    session = shared_session(region_name="eu-west-1")
    clients: dict[str, Any] = {}

    def in_ireland(service: str) -> Any:
        if service not in clients:
            name, region = placed(service)
            clients[service] = session.client(name, region_name=region)
        return clients[service]

    topic = in_ireland("sns").create_topic(Name=TOPIC)["TopicArn"]
    create_environment(in_ireland, profile, topic)
    check = next(c for c in run_preflight(profile, in_ireland, None, topic).checks if c.id == "security.rate_limiting")
    assert check.result == "pass", check.evidence
    assert check.evidence["distribution"]["rate_rules"]
    assert check.evidence["load_balancer"]["rate_rules"]


def test_a_composite_alarm_the_profile_names_is_found_and_read_like_a_metric_alarm(ready: Any, profile: Any) -> None:
    """DescribeAlarms returns composite alarms only when AlarmTypes asks for them: without it a composite
    alarm in bake.alarm_names was reported missing and never watched."""
    cloudwatch = ready("cloudwatch")
    topic = ready.topic
    cloudwatch.put_composite_alarm(
        AlarmName="acme-local-health",
        AlarmRule=f"ALARM({profile.bake.alarm_names[0]})",
        AlarmActions=[topic],
    )
    names = [*profile.bake.alarm_names, "acme-local-health"]
    composite = profile.model_copy(update={"bake": profile.bake.model_copy(update={"alarm_names": names})})
    checks = {c.id: c for c in run_preflight(composite, ready, None, topic).checks}
    assert checks["monitoring.alarms"].result == "pass", checks["monitoring.alarms"].evidence
    assert checks["monitoring.no_alarm_firing"].result == "pass", checks["monitoring.no_alarm_firing"].evidence


def test_more_alarms_than_one_describe_call_takes_are_all_read(aws: Any) -> None:
    """A hundred names a call, fifty alarms a page: 130 named alarms are all found."""
    from chalicelib.platform.alarms import described_alarms

    cloudwatch = aws("cloudwatch")
    names = [f"alarm-{n:03d}" for n in range(130)]
    put_alarms(cloudwatch, names)
    assert sorted(alarm["AlarmName"] for alarm in described_alarms(cloudwatch, names)) == names


def test_a_report_with_a_deadline_is_made_then_and_what_did_not_finish_fails_saying_so(
    ready: Any, profile: Any
) -> None:
    """The API's report must reach its caller within API Gateway's 29 s, and an image scan alone may be waited
    for ten minutes: at the deadline the report is made, and a check still running is not a pass."""
    import dataclasses
    import threading
    import time

    from chalicelib.checks import checklist as preflight

    released = threading.Event()
    index = next(n for n, item in enumerate(preflight.CHECKS) if item.id == "monitoring.dashboard")

    def slow(ctx: Any) -> Any:
        released.wait(30)
        return True, {}

    original = preflight.CHECKS[index]
    preflight.CHECKS[index] = dataclasses.replace(original, read=slow)
    began = time.monotonic()
    try:
        report = run_preflight(profile, ready, None, ready.topic, deadline_seconds=1.0)
    finally:
        released.set()
        preflight.CHECKS[index] = original
        # The checks the report did not wait for end on their own: let them, before this test's moto goes.
        for thread in [t for t in threading.enumerate() if t.name.startswith("preflight")]:
            thread.join(30)
    assert time.monotonic() - began < 10
    dashboard = next(c for c in report.checks if c.id == "monitoring.dashboard")
    assert dashboard.result == "warn"  # a warning-level check: not finished is a warning, never a pass
    assert dashboard.evidence == {
        "unfinished": "not finished within the report's 1 s (a launch's preflight waits for it)"
    }


def test_the_apis_report_is_made_within_api_gateways_wait() -> None:
    from localaws.aws_limits import INTEGRATION_TIMEOUT_SECONDS

    from chalicelib.api import routes

    assert routes.PREFLIGHT_REPORT_SECONDS <= INTEGRATION_TIMEOUT_SECONDS - 4
