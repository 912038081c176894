"""Shared fixtures: fake credentials, moto-backed clients and stores, the embedded local stack."""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from botocore.exceptions import ClientError
from localaws.sessions import shared_session

from chalicelib.domain.models import Launch, LaunchRequest, LaunchStatus
from chalicelib.domain.profiles import EnvironmentProfile
from launchctl.examples import example_names, example_profile

REGION = "us-east-1"
TABLE = "launch-controller-test"
REQUESTER = "riley.release@acme.example"
# moto loads thousands of public AMIs into every EC2 backend it makes (a second of each unit test that
# touches EC2); no launch reads an AMI. Read when a backend is made, so set before any test runs.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
# Where each worker's stack leaves the AWS calls its functions made (set for the integration run).
CALLS_DIR = "LAUNCH_CALLS_DIR"


# Unit tests run in moto's one default account: the environment's role is this account's too (the local
# stack keeps the controller and the environment in two accounts).
UNIT_ACCOUNT = "123456789012"


@functools.cache  # profiles are frozen: one copy per example serves every test
def unit_profile(name: str) -> EnvironmentProfile:
    """An example profile whose environment role is in the unit tests' one account, and whose application's
    API is not probed (no application answers in a unit test; the local stack's sample site does)."""
    example = example_profile(name)
    role = example.target.role_arn.replace(f":{example.target.account_id}:", f":{UNIT_ACCOUNT}:")
    # The workloads in the environment's account are in the one account too.
    principals = [
        listed.replace(f":{example.target.account_id}:", f":{UNIT_ACCOUNT}:")
        for listed in example.callers.iam_principals
    ]
    # No GitHub either: the release checks are tested against the local GitHub stand-in where they are.
    preflight = example.preflight.model_copy(update={"cors_paths": [], "release_checks": None})
    # Nor does it publish business metrics or real users' web vitals: tests that judge those name them.
    bake = example.bake.model_copy(update={"business_metrics": [], "web_vitals": None})
    store = example.frontend.key_value_store_arn
    if store is not None:
        store = store.replace(f"::{example.target.account_id}:", f"::{UNIT_ACCOUNT}:")
    hook_role = example.backend.traffic.hook_role_arn
    if hook_role is not None:
        hook_role = hook_role.replace(f":{example.target.account_id}:", f":{UNIT_ACCOUNT}:")
    traffic = example.backend.traffic.model_copy(update={"hook_role_arn": hook_role})
    return example.model_copy(
        update={
            "target": example.target.model_copy(update={"role_arn": role}),
            "frontend": example.frontend.model_copy(update={"key_value_store_arn": store}),
            "backend": example.backend.model_copy(update={"traffic": traffic}),
            "callers": example.callers.model_copy(update={"iam_principals": principals}),
            "preflight": preflight,
            "bake": bake,
            "functional": None,  # no canaries run in a unit test: tests/unit/stages/test_functional.py names them
        }
    )


@pytest.fixture(scope="session")
def issuer() -> Iterator[Any]:
    """A local OIDC issuer (key pair, JWKS over HTTP) standing in for GitHub's, for the whole session."""
    from localaws.oidc import LocalIssuer

    local = LocalIssuer().start()
    yield local
    local.stop()


@pytest.fixture(scope="session")
def sts_endpoint() -> Iterator[str]:
    """moto in server mode, for the API's STS calls that verify IAM tokens (it shares moto's state)."""
    from localaws import moto_fixes
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    moto_fixes.apply()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def aws_model_constraints() -> Iterator[None]:
    """Every AWS call a test makes, or makes the code make, is checked against its service model's `min`,
    `max`, `pattern` and `enum`, as AWS checks it (emulator/localaws/model_constraints.py)."""
    from localaws import model_constraints

    model_constraints.install()
    yield
    model_constraints.uninstall()


@pytest.fixture(autouse=True)
def calls_within_aws_constraints(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test fails when a call it led to broke a model constraint, even if the code caught AWS's refusal and
    went on (a call made by a fixture, such as a local stack's start, fails the first test after it). A test
    that makes such a call on purpose takes its violations itself (`model_constraints.taken()`)."""
    from localaws import model_constraints

    yield
    found = model_constraints.taken()
    if found:
        pytest.fail("AWS would refuse these calls:\n" + "\n".join(f"- {violation}" for violation in found))


@pytest.fixture(autouse=True)
def fake_aws_for_unit_tests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests talk to moto in-process: fake credentials, no endpoint override; tokens from a local issuer."""
    if "integration" in Path(str(request.node.fspath)).parts:
        return
    issuer = request.getfixturevalue("issuer")
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "LAUNCH_TABLE": TABLE,
        "OIDC_ISSUER": issuer.url,
        "OIDC_AUDIENCE": "launch-controller",
    }.items():
        monkeypatch.setenv(name, value)
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "LAUNCH_STATE_MACHINE_ARN",
        "STS_ENDPOINT_URL",
        "LAUNCH_PROFILES_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    from chalicelib.platform import aws, profile_store
    from chalicelib.platform.settings import settings

    aws.reset_clients()
    settings.cache_clear()
    # Each test has its own moto: a profile or a role a container read in an earlier test is not this test's.
    profile_store._kept_provider.cache_clear()
    from chalicelib.platform import roles

    roles.forget()
    # moto hooks botocore's built-in handlers when it is imported, and a session copies them when it is
    # made: imported first, so the app's session is intercepted even when this test is the first to run.
    import moto.core.models  # noqa: F401

    # The app's own clients, too, read service models through the shared loader.
    shared = shared_session()
    monkeypatch.setattr(aws, "_session", lambda: shared)


# Set once this process runs a local stack: moto's state is the process's, and a unit test resets it.
_STACKS_STARTED = False


# The unit tests' session, made once per process (a tenth of a second each time): moto answers its clients
# in whichever test's mock they are made (its hook is in every client botocore makes). Each test makes its
# own clients: tests replace a client's methods.
_UNIT_SESSION: list[Any] = []


@pytest.fixture
def aws() -> Iterator[Any]:
    """Inside moto: yields a factory of clients (`aws("s3")`)."""
    from localaws import moto_fixes
    from moto import mock_aws

    if _STACKS_STARTED:
        pytest.fail(
            "a local stack runs in this process and moto's reset would wipe it: run tests/unit and "
            "tests/integration in separate pytest runs (make test does)"
        )
    from chalicelib.platform.aws import placed
    from chalicelib.platform.profile_store import put_profile

    with mock_aws():
        moto_fixes.apply()
        if not _UNIT_SESSION:
            _UNIT_SESSION.append(shared_session(region_name=REGION))
        session = _UNIT_SESSION[0]
        clients: dict[str, Any] = {}

        def client(service: str) -> Any:
            if service not in clients:
                name, region = placed(service)  # "wafv2@cloudfront": us-east-1, as the functions' clients
                clients[service] = session.client(name, region_name=region)
            return clients[service]

        # The account's stored profiles, as `launchctl profile push` leaves them: the examples, version 1.
        for name in example_names():
            put_profile(client("ssm"), unit_profile(name))
        yield client


class TestClock:
    """The one clock of a unit test: wall-clock time until a test sets it, then that moment until moved."""

    def __init__(self) -> None:
        self.moment: datetime | None = None

    def now(self) -> datetime:
        return self.moment or datetime.now(UTC)

    def set(self, moment: datetime) -> datetime:
        self.moment = moment
        return moment

    def advance(self, seconds: float) -> datetime:
        return self.set(self.now() + timedelta(seconds=seconds))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> TestClock:
    """The clock the store, the stages and the app's handlers read, for this test."""
    from chalicelib.platform import wiring

    shared = TestClock()
    monkeypatch.setattr(wiring, "CLOCK", shared)
    return shared


@pytest.fixture
def store(aws: Any, clock: TestClock) -> Any:
    from chalicelib.store import LaunchStore, table_definition

    aws("dynamodb").create_table(**table_definition(TABLE))
    return LaunchStore(aws("dynamodb"), TABLE, clock)


@pytest.fixture
def run_stage(store: Any, aws: Any) -> Any:
    """Runs a stage the way its Lambda does (the stage table's row through the harness), against moto:
    `run_stage("begin_bake", launch_id)` answers what the state machine would receive. `clients` stands in
    for some of the controller's own clients (a recording Step Functions)."""
    from chalicelib.platform.settings import settings
    from chalicelib.stages.harness import Dependencies, handle
    from chalicelib.stages.table import STAGES

    def run(name: str, launch_id: str, clients: dict[str, Any] | None = None, **event: Any) -> dict[str, Any]:
        # One moto account here: the stage's environment clients are the test's (the role is assumed in
        # tests/unit/platform/test_environment_access.py and on the local stack).
        own = {**(clients or {})}
        needs = Dependencies(
            store=lambda: store,
            client=lambda service: own[service] if service in own else aws(service),
            environment=lambda launch, profile, function: aws,
            settings=settings,
        )
        return handle(STAGES[name], {"launch_id": launch_id, **event}, needs)

    return run


class RecordingStepFunctions:
    """Step Functions' task-token calls, recorded: how a wait answered the execution."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, dict[str, Any]]] = []

    def send_task_success(self, **kwargs: Any) -> None:
        self.answers.append(("success", kwargs))

    def send_task_failure(self, **kwargs: Any) -> None:
        self.answers.append(("failure", kwargs))


@pytest.fixture
def profile() -> EnvironmentProfile:
    return unit_profile("local")


def make_request(**overrides: Any) -> LaunchRequest:
    fields: dict[str, Any] = {
        "environment": "local",
        "version": "1.1.0",
        "git_sha": "abcdef1234",
        "frontend_artifact": "s3://acme-artifacts-local/releases/1.1.0/",
        "backend_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/api:1.1.0",
    }
    return LaunchRequest.model_validate(fields | overrides)


def race(calls: list[Any]) -> list[Any]:
    """Run the calls at the same moment, each in its own thread; each one's result or exception."""
    import threading

    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = calls[index]()
        except Exception as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


# A launch request's body as the API takes it (version 1.2.0 into the local environment).
LAUNCH_BODY = {
    "environment": "local",
    "version": "1.2.0",
    "git_sha": "abcdef1234",
    "frontend_artifact": "s3://acme-artifacts-local/releases/1.2.0/",
    "backend_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/api:1.2.0",
}


@pytest.fixture
def launch(store: Any) -> Launch:
    """A launch record as the API writes it, in REQUESTED."""
    moment = datetime.now(UTC)
    record = Launch(
        launch_id="local-20261128-000000-abcdef",
        request=make_request(),
        requested_by=REQUESTER,
        status=LaunchStatus.REQUESTED,
        created_at=moment,
        updated_at=moment,
        profile=unit_profile("local"),
        profile_version=1,
    )
    store.create_launch(record)
    return record


# The statuses a launch passes through to reach each stage's, in order.
_PATH = [
    LaunchStatus.PREFLIGHT,
    LaunchStatus.AWAITING_APPROVAL,
    LaunchStatus.DEPLOYING,
    LaunchStatus.VERIFYING,
    LaunchStatus.BAKING,
]


def move_to(store: Any, launch_id: str, status: LaunchStatus) -> Launch:
    """Walk a stored launch through the lifecycle up to `status`, as its stages would."""
    launch: Launch = store.get_launch(launch_id)
    order = [LaunchStatus.REQUESTED, *_PATH]
    for step in _PATH[: _PATH.index(status) + 1]:
        if order.index(launch.status) < order.index(step):
            launch = store.set_status(launch_id, step, current=launch)
    return launch


@pytest.fixture(scope="session")
def stack() -> Iterator[Any]:
    """The embedded local AWS with the real ASL and Lambda code, once per test session."""
    from localaws.stack import LocalStack, Ports

    global _STACKS_STARTED
    _STACKS_STARTED = True
    local = LocalStack(Ports.any_free()).start()
    yield local
    calls = os.environ.get(CALLS_DIR)
    if calls:  # what each function called on this worker's stack, and the policies it deployed, for the
        # policy check (tests/policies)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        recorded = {"calls": sorted(local.faults.attempted), "policies": local.function_policies()}
        Path(calls, f"{worker}.json").write_text(json.dumps(recorded))
    local.stop()


class CallerClient:
    """The Chalice test client with a caller's credential on every request (`anonymous()`: none)."""

    def __init__(self, test_client: Any, credential: Any, people: Any = None) -> None:
        self._client = test_client
        self._credential = credential
        self._people = people
        self.http = self

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: Any = b"") -> Any:
        sent = dict(headers or {})
        if self._credential is not None and "Authorization" not in sent:
            sent["Authorization"] = self._credential()
        return self._client.http.request(method, path, headers=sent, body=body)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def anonymous(self) -> CallerClient:
        return CallerClient(self._client, None, self._people)

    def with_credential(self, credential: Any) -> CallerClient:
        return CallerClient(self._client, credential, self._people)

    def as_github(self, **claims: str) -> CallerClient:
        issuer = self._people.issuer
        return self.with_credential(lambda: f"Bearer {issuer.issue(**claims)}")

    def as_person(self, person: str) -> CallerClient:
        """Signed in as an IAM user named by the person's email (the local profile's convention)."""
        return self.with_credential(self._people.iam_token(person))

    def as_role_session(self, role_arn: str, session_name: str) -> CallerClient:
        """Signed in with a session of a role, named as whoever assumed it chose."""
        return self.with_credential(self._people.role_session_token(role_arn, session_name))


class People:
    """Makes IAM users in moto and IAM tokens for them, verified through moto's STS server."""

    def __init__(self, aws: Any, issuer: Any, sts_endpoint: Any) -> None:
        self.aws = aws
        self.issuer = issuer
        self._sts_endpoint = sts_endpoint
        self._keys: dict[tuple[str, str], tuple[str, str]] = {}

    def iam_token(self, person: str, account: str = UNIT_ACCOUNT) -> Any:
        """An IAM token of the IAM user named `person` in `account` (another account's: made in moto's IAM
        there, as that account's administrator would)."""
        import boto3
        from localaws import moto_fixes

        from chalicelib.platform.settings import settings
        from launchctl.credentials import IamToken

        endpoint = self._sts_endpoint()
        os.environ["STS_ENDPOINT_URL"] = endpoint
        settings.cache_clear()
        if (person, account) not in self._keys:
            if account == UNIT_ACCOUNT:
                self.aws("iam").create_user(UserName=person)
                key = self.aws("iam").create_access_key(UserName=person)["AccessKey"]
                self._keys[(person, account)] = (key["AccessKeyId"], key["SecretAccessKey"])
            else:
                self._keys[(person, account)] = moto_fixes.operator_keys(account, name=person)
        key_id, secret = self._keys[(person, account)]
        session = boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret, region_name=REGION)
        return IamToken(session, "launch-controller", endpoint)

    def role_session_token(self, role_arn: str, session_name: str) -> Any:
        """An IAM token of a session of `role_arn` (any account) under the session name the caller chose."""
        import boto3

        from chalicelib.platform.settings import settings
        from launchctl.credentials import IamToken

        endpoint = self._sts_endpoint()
        os.environ["STS_ENDPOINT_URL"] = endpoint
        settings.cache_clear()
        credentials = self.aws("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
        session = boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=REGION,
        )
        return IamToken(session, "launch-controller", endpoint)


@pytest.fixture
def people(aws: Any, issuer: Any, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("STS_ENDPOINT_URL", "")
    return People(aws, issuer, lambda: request.getfixturevalue("sts_endpoint"))


@pytest.fixture
def client(store: Any, aws: Any, people: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The Chalice app under its test client, with moto behind it and a state machine to start;
    requests carry the local release job's GitHub token unless a test says otherwise."""
    import json

    from chalice.test import Client

    from chalicelib.platform.settings import settings

    machine = aws("stepfunctions").create_state_machine(
        name="launch",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/states",
    )["stateMachineArn"]
    monkeypatch.setenv("LAUNCH_STATE_MACHINE_ARN", machine)
    settings.cache_clear()
    from app import app

    with Client(app) as test_client:
        yield CallerClient(test_client, lambda: f"Bearer {people.issuer.issue()}", people)


@pytest.fixture
def api(stack: Any) -> Any:
    """The controller's API on the local stack, as the release engineer."""
    return stack.api_as()


@pytest.fixture(autouse=True)
def stack_left_whole(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test on the local stack, the stack as the next test expects it, however this one ended:
    faults and failing images gone, broken items repaired, launches ended, the environment unlocked."""
    yield
    if "stack" in request.fixturenames:
        request.getfixturevalue("stack").restore()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium (emulator/localaws/browser.py), closed however the test ends."""
    from localaws.browser import Chromium

    chromium = Chromium()
    yield chromium
    chromium.close()


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The EMF lines the code under test writes (the controller's metrics), parsed, in order."""
    from chalicelib.platform import telemetry

    lines: list[dict[str, Any]] = []
    monkeypatch.setattr(telemetry, "write", lambda line: lines.append(json.loads(line)))
    return lines


@pytest.fixture
def environment(aws: Any, profile: EnvironmentProfile) -> Any:
    """The local profile's infrastructure inside moto, running version 1.0.0; yields the client factory."""
    from localaws.infrastructure import create_environment, publish_release

    create_environment(aws, profile)
    publish_release(aws, "1.1.0")
    return aws


@pytest.fixture
def application(aws: Any, profile: EnvironmentProfile) -> Any:
    """What a launch changes and watches (site, service, database, alarms), without the network and edge
    only preflight reads: a third of `environment`'s making, for the stages after preflight."""
    from localaws.infrastructure import create_environment, publish_release

    create_environment(aws, profile, edge=False)
    publish_release(aws, "1.1.0")
    return aws


# -- the emailed approval link's page -------------------------------------------------------------

ALL_ATTESTATIONS = ["code_freeze", "rollback_plan", "on_call", "runbooks"]


class Site:
    """The app under test and the approval links emailed for one launch at the gate."""

    def __init__(self, client: Any, links: dict[str, str], key: bytes, store: Any, launch: Launch) -> None:
        self.http = client.http
        self.links = links
        self.key = key
        self.store = store
        self.launch = launch

    def path(self, approver: str) -> str:
        parts = urlsplit(self.links[approver])
        return f"{parts.path}?{parts.query}"

    def open(self, approver: str) -> Any:
        return self.http.get(self.path(approver))

    def post(self, approver: str, fields: list[tuple[str, str]], cookie: str | None, **headers: str) -> Any:
        request_headers = {"Content-Type": "application/x-www-form-urlencoded", "Host": "api.example", **headers}
        if cookie:
            request_headers["Cookie"] = cookie
        return self.http.post(urlsplit(self.links[approver]).path, headers=request_headers, body=urlencode(fields))

    def submit(
        self, approver: str, decision: str = "approve", attest: list[str] = ALL_ATTESTATIONS, comment: str = ""
    ) -> Any:
        """Open the page, then send its form back as the browser would, with its cookie."""
        page = self.open(approver)
        assert page.status_code == 200, page.body
        hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.body.decode()))
        cookie = page.headers["Set-Cookie"].split(";", 1)[0]
        fields = [*hidden.items(), *(("attest", a) for a in attest), ("decision", decision), ("comment", comment)]
        return self.post(approver, fields, cookie, Origin="https://api.example")


@pytest.fixture
def site(aws: Any, store: Any, launch: Launch, run_stage: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """A launch at the approval gate (its approvals stage run as its Lambda runs it) and the app under
    Chalice's test client, with the links it emailed."""
    from chalice.test import Client

    from chalicelib.api import approvals
    from chalicelib.platform.settings import settings

    key = b"approval-link-key-for-the-tests-0123456789"
    secret = aws("secretsmanager").create_secret(Name="approval-key", SecretBinary=key)["ARN"]
    topic = aws("sns").create_topic(Name="approvals")["TopicArn"]
    monkeypatch.setenv("APPROVAL_KEY_SECRET_ID", secret)
    monkeypatch.setenv("APPROVALS_TOPIC_ARN", topic)
    monkeypatch.setenv("PUBLIC_API_URL", "https://api.example")
    settings.cache_clear()
    store.set_status(launch.launch_id, LaunchStatus.PREFLIGHT)
    run_stage("request_approvals", launch.launch_id, task_token="token")
    from moto.sns.models import sns_backends

    links = {}
    for _, body, _, attributes, _ in sns_backends["123456789012"]["us-east-1"].topics[topic].sent_notifications:
        links[attributes["approver"]["Value"]] = re.search(r"https://\S+", body.split("Review and decide: ")[1])[0]  # type: ignore[index]
    # The execution is not running in these tests: record what would be sent to it instead.
    released: list[str] = []
    monkeypatch.setattr(approvals, "_close_gate", lambda send, **kwargs: released.append(send.__name__))
    from app import app

    with Client(app) as client:
        yield Site(client, links, key, store, launch)


def put_alarms(cloudwatch: Any, names: list[str]) -> None:
    """A metric alarm of each name (on a metric nobody publishes): what a team's alarms look like to a read."""
    for name in names:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="N",
            MetricName="M",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )


class Denied:
    """A client whose every call is refused, as with a role missing its read permissions."""

    def __init__(self, service: str) -> None:
        self.service = service

    def __getattr__(self, operation: str) -> Any:
        def refuse(*_: Any, **__: Any) -> Any:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": f"not allowed: {operation}"}}, operation)

        return refuse
