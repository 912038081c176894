"""The embedded local AWS: moto with Step Functions executing the real ASL, the Lambda bridge, the API."""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chalicelib.domain.profiles import EnvironmentProfile, FrontendTarget
from chalicelib.platform import telemetry
from chalicelib.platform.aws import placed
from chalicelib.platform.runtime import PROCESS, Runtime, running
from chalicelib.stages.bake import datapoints
from chalicelib.stages.release_switch import CANARY_PERCENT_KEY, CANARY_RELEASE_KEY, LIVE_RELEASE_KEY
from launchctl.approvers import sync_subscriptions
from launchctl.build.template import PACKAGED_STAGE, sam_template
from launchctl.client import ControllerApi
from launchctl.credentials import (
    RELEASE_ENGINEER,
    IamToken,
    create_people,
    local_credentials_file,
    local_people,
    profile_keeper_policy,
    write_local_credentials,
    write_stack_file,
)
from localaws import aws_limits, emitters, key_value_store, model_constraints, moto_fixes, synthetics
from localaws.bridge import LambdaBridge, LocalFunction
from localaws.deployment import API_FUNCTION, DeployedFunction, Deployment, deploy, served_stage
from localaws.ecs_scheduler import EcsScheduler
from localaws.eventbridge import LocalEventBridge
from localaws.faults import FaultInjector
from localaws.github_api import GitHubAppIdentity, LocalGitHubApi, app_key_pair
from localaws.infrastructure import (
    ACCOUNT_ID,
    ENVIRONMENT_ACCOUNT_ID,
    REGION,
    backend_image,
    create_environment,
    publish_release,
    write_application_logs,
)
from localaws.lark import LocalLark
from localaws.load_balancer import LocalLoadBalancer, Split
from localaws.oidc import LocalIssuer
from localaws.outbox import Control, ControlRefused, OutboxServer, delivered, published
from localaws.sample_site import RELEASE_FAULTS, SampleSite
from localaws.servers import LoopbackServer
from localaws.sessions import shared_session
from localaws.synthetics import LocalJourney
from localaws.xray import LocalTraces, invocation

ROOT = Path(__file__).resolve().parents[2]
APP_NAME = "launch-controller"


def staged_handler(
    stage: str, faults: FaultInjector | None = None, container: Callable[[], Runtime] | None = None
) -> Any:
    """Chalice's request handler behind an API Gateway stage: only `/<stage>/...` reaches a route (anything
    else is API Gateway's 403), and the event's requestContext.path keeps the stage, as on AWS. Requests
    run in the API function's container (`container()`, its environment and credentials), and its AWS
    calls are the API function's (`api_handler`, as Chalice names it) to `faults`."""
    from http.server import BaseHTTPRequestHandler

    from chalice.local import ChaliceRequestHandler, ForbiddenError, LocalGateway, LocalGatewayException

    prefix = f"/{stage}"

    class EndpointTimedOut(LocalGatewayException):
        CODE = 504

    class StagedGateway(LocalGateway):
        def __init__(self, app_object: Any, config: Any) -> None:
            super().__init__(app_object, config)
            convert = self.event_converter.create_lambda_event

            def create_lambda_event(method: str, path: str, headers: Any, body: Any = None) -> Any:
                event = convert(method=method, path=path, headers=headers, body=body)
                event["requestContext"]["path"] = prefix + event["requestContext"]["path"]
                event["requestContext"]["stage"] = stage
                # The host the request reached, as API Gateway names its own domain there.
                event["requestContext"]["domainName"] = headers.get("host") or headers.get("Host") or ""
                return event

            self.event_converter.create_lambda_event = create_lambda_event  # type: ignore[method-assign]

        def handle_request(self, method: str, path: str, headers: Any, body: Any) -> Any:
            route, _, query = path.partition("?")
            if not route.startswith(prefix + "/"):
                raise ForbiddenError({"x-amzn-ErrorType": "MissingAuthenticationTokenException"}, MISSING_TOKEN)
            inner = route[len(prefix) :] + (f"?{query}" if query else "")
            answer: list[Any] = []

            def handle() -> None:
                try:
                    with running(container() if container else PROCESS), invocation(API_FUNCTION, "", None):
                        if faults is None:
                            answer.append((super(StagedGateway, self).handle_request(method, inner, headers, body),))
                            return
                        with faults.running(API_FUNCTION):
                            answer.append((super(StagedGateway, self).handle_request(method, inner, headers, body),))
                except BaseException as error:  # noqa: BLE001 - raised again in the request's own thread
                    answer.append((None, error))

            # API Gateway waits 29 s for the function, then answers 504 while the function runs on.
            worker = threading.Thread(target=handle, name="api-integration", daemon=True)
            worker.start()
            worker.join(aws_limits.INTEGRATION_TIMEOUT_SECONDS)
            if not answer:
                raise EndpointTimedOut(
                    {"x-amzn-ErrorType": "InternalServerErrorException"}, b'{"message": "Endpoint request timed out"}'
                )
            if len(answer[0]) == 2:
                raise answer[0][1]
            return answer[0][0]

    class StagedHandler(ChaliceRequestHandler):
        def __init__(self, request: Any, client_address: Any, server: Any, app_object: Any, config: Any) -> None:
            self.local_gateway = StagedGateway(app_object, config)
            BaseHTTPRequestHandler.__init__(self, request, client_address, server)

        def log_message(self, *_: Any) -> None:
            return

    return StagedHandler


# Where Lambda would have the code (its LAMBDA_TASK_ROOT): the working tree the functions run from.
TASK_ROOT = str(Path(__file__).resolve().parents[2])

# The controller's GitHub App as the local GitHub knows it.
GITHUB_APP_ID = "1010101"

# What API Gateway answers for a path outside the stage.
MISSING_TOKEN = b'{"message":"Missing Authentication Token"}'


@dataclass(frozen=True)
class Ports:
    """Where `launchctl local` listens, for a person to remember; `any_free()` for tests and second stacks."""

    moto: int = 24560
    api: int = 24561
    site: int = 24562
    websocket: int = 24563
    outbox: int = 24564
    oidc: int = 24565
    github: int = 24566

    @classmethod
    def any_free(cls) -> Ports:
        """Every server binds a port the system picks: stacks never touch each other."""
        return cls(0, 0, 0, 0, 0, 0, 0)


class LocalStack:
    """Everything a launch needs, in this process, on loopback ports; never real AWS."""

    def __init__(self, ports: Ports = Ports(), host: str = "127.0.0.1") -> None:
        self.ports = ports
        self.host = host
        # Known once each server is bound (a port of 0 is the system's choice).
        self.moto_url = ""
        self.api_url = ""
        self.api_port = 0
        self._moto: Any = None
        self._api: Any = None
        self._clients: dict[Any, Any] = {}
        self.environment_role = ""  # the role the launches act as in the environment's account
        self._role_trust = ""  # the controller's functions' roles it trusts
        self._event_bus = ""  # where the environment's account forwards its events
        self._traffic_hook = ""  # the controller's lifecycle hook for canary and linear rollouts
        # The load balancer's crowd at every moment, not only while ECS shifts traffic (the demo's comparison).
        self.steady_crowd = False
        self.traffic_hook_role = ""  # the role ECS invokes it as, in the environment's account
        self._client_lock = threading.Lock()
        self.bridge: LambdaBridge | None = None
        self.deployment: Deployment | None = None
        # Whose keys this process uses: fake ones until moto runs, then its operator's (allowed everything).
        self._operator = ("testing", "testing")
        self._enforcing = False
        self._checking_models = False
        self.containers: dict[str, Runtime] = {}  # each deployed function's container, by Chalice's name
        # EventBridge between the environment's account and the controller's: ECS's scheduler, RDS and
        # CloudWatch emit into it; the deployed rules route.
        self.events = LocalEventBridge(ACCOUNT_ID, REGION, self._invoke)
        self.scheduler = EcsScheduler(
            REGION, account_id=ENVIRONMENT_ACCOUNT_ID, emit=self.events.emit, hook=self._lifecycle_hook
        )
        self.faults = FaultInjector()
        self.metrics: list[dict[str, Any]] = []  # the EMF lines the functions wrote, as CloudWatch Logs takes them
        self.traces: LocalTraces | None = None  # the trace documents the functions' X-Ray SDK sent
        self.load_balancer: LocalLoadBalancer | None = None  # users' requests, as the ALB's metrics
        self.site: SampleSite | None = None
        self.journey: LocalJourney | None = None  # what the local Synthetics runs for a started canary
        self.outbox_server: OutboxServer | None = None
        self.state_machine_arn = ""
        self.topics: dict[str, str] = {}
        self.issuer: LocalIssuer | None = None
        self.github: LocalGitHubApi | None = None  # the repository's checks, read as the controller's GitHub App
        self.lark: LocalLark | None = None  # the team's Lark group's bot, told what the channel is told
        self._github_app_key = ""
        self.people: dict[str, tuple[str, str]] = {}
        self._people_apis: dict[str, ControllerApi] = {}
        # The checklist items broken on purpose, and those that releases published from now on have too.
        self.broken_checks: list[str] = []
        self.release_defects: set[str] = set()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> LocalStack:
        from chalicelib.platform import aws
        from chalicelib.platform.settings import settings
        from launchctl.examples import example_profile

        self._environment()
        # Every call refused as AWS refuses what breaks its model (the demo's and `launchctl local`'s too).
        model_constraints.install()
        self._checking_models = True
        self.issuer = LocalIssuer(self.host, self.ports.oidc).start()
        self.github = self._start_github(example_profile("local"))
        self.lark = LocalLark(self.host).start()
        self._start_moto()
        import app as chalice_app

        # The template `make package` writes, built in-process: the stack deploys exactly this.
        self.template = sam_template()
        self._bind_api(chalice_app.app, served_stage(self.template))
        packaged = example_profile("local")
        self.site = SampleSite(
            self.host,
            self.ports.site,
            self.ports.websocket,
            self.environment_client,
            packaged.frontend.site_bucket,
            packaged.backend.cluster,
            packaged.backend.service,
            business_metrics=packaged.bake.business_metrics,
            release_store=packaged.frontend.key_value_store_arn,
            release_figures=packaged.frontend.release_figures,
        )
        self.site.start()
        # Synthetics: a started canary runs the sample site's journey in this stack's Chromium.
        self.journey = LocalJourney(self.site.url)
        synthetics.run_journeys_with(self.journey)
        self._environment()
        aws.reset_clients()
        settings.cache_clear()
        self.traces = LocalTraces(self.credentials_file.parent / "traces.jsonl").start()
        self.bootstrap(packaged)
        settings.cache_clear()
        self.events.start()
        emitters.listen(self.events.emit)
        self.metrics_file.write_text("")
        telemetry.write = self._collect_metrics
        self.scheduler.start()
        if packaged.bake.load_balancer:
            self.load_balancer = LocalLoadBalancer(
                self.site.url,
                lambda: self.environment_client("cloudwatch"),
                packaged.bake.load_balancer,
                log=lambda line: write_application_logs(self.environment_client, packaged, line),
                shifting=self._traffic_split,
            )
            self.load_balancer.start()
        controls: dict[str, Control] = {"publish": self._publish_control, "alarm": self._alarm_control}
        self.outbox_server = OutboxServer(self.host, self.ports.outbox, self.outbox, self.channel, controls)
        self.outbox_server.start()
        write_stack_file(
            self.api_port,
            {
                "moto_url": self.moto_url,
                "outbox_url": self.outbox_server.url,
                "control_url": self.outbox_server.control_url,
                "approvals_topic": self.topics["approvals"],
            },
        )
        threading.Thread(target=self._api.server.serve_forever, name="chalice-local", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._api:
            self._api.shutdown()
            self._api.server.server_close()
        if self.site:
            self.site.stop()
        if self.journey is not None:
            synthetics.run_journeys_with(None)
            self.journey.close()
        if self.outbox_server:
            self.outbox_server.stop()
        self.scheduler.stop()
        if self.load_balancer:
            self.load_balancer.stop()
        emitters.forget(self.events.emit)
        self.events.stop()
        telemetry.write = telemetry.to_stdout
        if self.bridge:
            self.bridge.uninstall()
        if self._moto:
            self._moto.stop()
        if self._enforcing:
            moto_fixes.stop_enforcing_iam()
            self._enforcing = False
        if self.issuer:
            self.issuer.stop()
        if self.lark:
            self.lark.stop()
        if self.github:
            self.github.stop()
        if self._checking_models:
            model_constraints.uninstall()
            self._checking_models = False

    def _start_github(self, packaged: EnvironmentProfile) -> LocalGitHubApi:
        """GitHub's API for the profile's repository, where the controller's GitHub App is installed and the
        repository's CI has passed every required check on every commit, until a test records otherwise."""
        import secrets

        self._github_app_key, public = app_key_pair()
        checks = packaged.preflight.release_checks
        repositories = {checks.repository: 4_200_001} if checks else {}
        app = GitHubAppIdentity(app_id=GITHUB_APP_ID, public_key_pem=public, installations=repositories)
        github = LocalGitHubApi(secrets.token_hex(16), self.host, self.ports.github, app=app)
        github.default_checks = {name: "success" for name in (checks.required if checks else [])}
        return github.start()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def _environment(self) -> None:
        """This process's environment: the operator's keys (fake ones until moto runs), and once the servers
        are bound, where AWS is and the profiles (the functions get their own environments)."""
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": self._operator[0],
                "AWS_SECRET_ACCESS_KEY": self._operator[1],
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                # Powertools' logger reads its level once per process, at import: one level for all.
                "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "ERROR"),
                "POWERTOOLS_SERVICE_NAME": APP_NAME,
                # moto otherwise loads thousands of public AMIs into every EC2 backend it makes; no launch
                # reads an AMI.
                "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
                # Lambda's: where the code is. Powertools' Tracer is on only where it is set (in Lambda).
                "LAMBDA_TASK_ROOT": TASK_ROOT,
            }
        )
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_SECURITY_TOKEN"):
            os.environ.pop(name, None)
        if not self.api_url:
            return  # the servers are not bound yet
        os.environ.update({"MOTO_PORT": self.moto_url.rsplit(":", 1)[1], **self.stand_ins()})

    def stand_ins(self) -> dict[str, str]:
        """What every function's environment has locally beyond what the template gives it: where AWS is
        (moto)."""
        return {"AWS_ENDPOINT_URL": self.moto_url, "STS_ENDPOINT_URL": self.moto_url}

    def _start_moto(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer
        from werkzeug.serving import BaseWSGIServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # S3 never refuses a connection; a Distributed Map's children open hundreds at once (40 children, 16
        # calls each), past werkzeug's listen queue of 128, and the connections queued beyond it timed out.
        BaseWSGIServer.request_queue_size = 1024
        # The interpreter logs every Fail state as an error; the launch's timeline tells it better.
        logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)

        self._moto = ThreadedMotoServer(ip_address=self.host, port=self.ports.moto, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        moto_fixes.apply()
        # From here on every request is judged by its caller's IAM policies, as on AWS: the stack, the
        # tests and the demo act as the account's operator; each function as its own role.
        self._operator = moto_fixes.operator_keys(ACCOUNT_ID)
        os.environ.update({"AWS_ACCESS_KEY_ID": self._operator[0], "AWS_SECRET_ACCESS_KEY": self._operator[1]})
        moto_fixes.enforce_iam()
        self._enforcing = True
        request = urllib.request.Request(
            f"{self.moto_url}/moto-api/config",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def _bind_api(self, app: Any, stage: str) -> None:
        """Chalice's local server, bound now and served once the stack is ready, under the template's API
        Gateway stage (`/api`), as chalice.local.create_local_server would build it."""
        from chalice.config import Config
        from chalice.local import CustomLocalChalice, LocalChalice, LocalDevServer

        if not isinstance(app, LocalChalice):
            CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
            app.__class__ = CustomLocalChalice
        config = Config(
            chalice_stage=PACKAGED_STAGE,
            user_provided_params={"app_name": APP_NAME, "project_dir": str(ROOT)},
            config_from_disk=json.loads((ROOT / ".chalice" / "config.json").read_text()),
        )
        self._api = LocalDevServer(
            app,
            config,
            self.host,
            self.ports.api,
            handler_cls=staged_handler(stage, self.faults, lambda: self.containers[API_FUNCTION]),
            server_cls=LoopbackServer,
        )
        self.api_port = self._api.server.server_address[1]
        self.api_url = f"http://{self.host}:{self.api_port}/{stage}"
        if self.issuer is not None:  # a job's token names this controller by default, as the action asks
            self.issuer.audience = self.audience

    def _push_profiles(self, local: EnvironmentProfile) -> EnvironmentProfile:
        """Store the example profiles as `launchctl profile push` does, the local one with its smoke checks
        pointed at this stack's sample site (so two stacks never test each other's site); the local one
        as stored."""
        from chalicelib.platform.profile_store import push_profile
        from launchctl.examples import example_profiles

        assert self.site is not None
        for example in example_profiles():
            if example.name != local.name:
                push_profile(self.client("ssm"), example, self.profiles_path)
        data = local.model_dump(mode="json")
        data["smoke"] |= {"base_url": self.site.url, "websocket_url": self.site.websocket_url}
        if data["preflight"].get("release_checks") and self.github is not None:
            data["preflight"]["release_checks"]["api_url"] = self.github.url
        return push_profile(self.client("ssm"), EnvironmentProfile.model_validate(data), self.profiles_path).profile

    @property
    def profiles_path(self) -> str:
        """Where the deployed functions read profiles: the template's LAUNCH_PROFILES_PATH."""
        assert self.deployment is not None
        return self.deployment.functions[API_FUNCTION].environment["LAUNCH_PROFILES_PATH"]

    def client(self, service: str) -> Any:
        """A client of the controller's account, as its operator, for the stack itself, tests and the demo."""
        with self._client_lock:
            if service not in self._clients:
                self._clients[service] = shared_session().client(
                    service, region_name=REGION, endpoint_url=self.moto_url
                )
            return self._clients[service]

    def environment_client(self, service: str) -> Any:
        """A client of the environment's account, as its operator: what the team and AWS's services do there
        (the site, ECS, alarms, the tests' looks). Its alarms publish to the controller's topics."""
        if service == "sns":
            return self.client(service)
        with self._client_lock:
            if ("environment", service) not in self._clients:
                key, secret = moto_fixes.operator_keys(ENVIRONMENT_ACCOUNT_ID)
                session = shared_session(aws_access_key_id=key, aws_secret_access_key=secret)
                name, region = placed(service)  # CloudFront's web ACLs and certificates: us-east-1
                self._clients[("environment", service)] = session.client(
                    name, region_name=region or REGION, endpoint_url=self.moto_url
                )
            return self._clients[("environment", service)]

    # -- the emulated account ------------------------------------------------------------------

    def bootstrap(self, local: EnvironmentProfile) -> None:
        """Deploy the packaged template, run each function as it defines it, and create the infrastructure
        the local profile names."""
        assert self.issuer is not None
        self._api_gateway_logs_role()
        self.deployment = deploy(
            self.client,
            self.template,
            {
                "PublicApiUrl": self.api_url,
                "OidcIssuer": self.issuer.url,
                "EnvironmentAccounts": ENVIRONMENT_ACCOUNT_ID,
            },
            REGION,
        )
        outputs = self.deployment.outputs
        self.topics = {
            "approvals": outputs["ApprovalsTopicArn"],
            "notifications": outputs["NotificationsTopicArn"],
            "paging": outputs["PagingTopicArn"],
        }
        self.state_machine_arn = outputs["LaunchStateMachineArn"]
        functions = [self._local_function(f) for f in self.deployment.functions.values()]
        # This process (the tests, the demo, `launchctl local`) reads the stack as the API function does.
        os.environ.update(self.deployment.functions[API_FUNCTION].environment)
        self.bridge = LambdaBridge(functions, self.faults)
        self.bridge.install()
        # The operator puts the controller's GitHub App credential where the template's secret waits for it.
        self.client("secretsmanager").put_secret_value(
            SecretId=self.deployment.functions["preflight"].environment["GITHUB_APP_SECRET_ID"],
            SecretString=json.dumps({"app_id": GITHUB_APP_ID, "private_key": self._github_app_key}),
        )
        # And the team's Lark bot: its webhook and signing secret where the template's secret waits for them.
        assert self.lark is not None
        self.client("secretsmanager").put_secret_value(
            SecretId=self.deployment.functions["finish_launch"].environment["LARK_BOT_SECRET_ID"],
            SecretString=json.dumps({"webhook": self.lark.webhook, "secret": self.lark.secret}),
        )
        self.profile = self._push_profiles(local)
        sync_subscriptions(self.client("sns"), self.topics["approvals"], self.profile)
        self.people = create_people(self.client("iam"), local_people(self.profile))
        # The release engineer keeps the profiles too, with the rights docs/profiles.md lists.
        self.client("iam").put_user_policy(
            UserName=RELEASE_ENGINEER,
            PolicyName="profile-keeper",
            PolicyDocument=json.dumps(
                profile_keeper_policy(ACCOUNT_ID, REGION, self.profiles_path, self.topics["approvals"])
            ),
        )
        write_local_credentials(self.people, self.credentials_file)
        self._event_bus = outputs["EventBusArn"]
        self._traffic_hook = outputs["TrafficHookArn"]
        self.environment_role = self._deploy_environment_role(outputs["EnvironmentRoleTrust"])
        create_environment(self.environment_client, self.profile, self.topics["notifications"])

    def _api_gateway_logs_role(self) -> None:
        """What the account's operator does once per account and region before the first deploy (`make deploy`
        checks it): a role API Gateway writes access logs as, set in API Gateway's account settings."""
        iam = self.client("iam")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        role = iam.create_role(RoleName="apigateway-cloudwatch", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        # AWS's managed AmazonAPIGatewayPushToCloudWatchLogs, written out: moto does not load AWS's policies.
        logs = [
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:DescribeLogGroups",
            "logs:DescribeLogStreams",
            "logs:PutLogEvents",
            "logs:GetLogEvents",
            "logs:FilterLogEvents",
        ]
        iam.put_role_policy(
            RoleName="apigateway-cloudwatch",
            PolicyName="push-to-cloudwatch-logs",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": logs, "Resource": "*"}]}
            ),
        )
        self.client("apigateway").update_account(
            patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role["Arn"]}]
        )

    def _deploy_environment_role(self, trusted: str) -> str:
        """The shipped target-account template, deployed in the environment's account by its operator as a
        team would, with the local profile's values and the controller's functions' roles."""
        self._role_trust = trusted
        cloudformation = self.environment_client("cloudformation")
        cloudformation.create_stack(**self._role_stack(self.profile), Capabilities=["CAPABILITY_NAMED_IAM"])
        stack = cloudformation.describe_stacks(StackName=self._role_stack(self.profile)["StackName"])["Stacks"][0]
        role_arn = next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "RoleArn")
        self.traffic_hook_role = next(
            o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "TrafficHookRoleArn"
        )
        if role_arn != self.profile.target.role_arn:
            raise RuntimeError(
                f"the environment's role is {role_arn}; the local profile names {self.profile.target.role_arn}"
            )
        return str(role_arn)

    def _role_stack(self, profile: EnvironmentProfile) -> dict[str, Any]:
        from launchctl.build.target_role import rendered, role_parameters

        parameters = {
            "ControllerRoleArns": self._role_trust,
            "ControllerEventBus": self._event_bus,
            "ControllerTrafficHook": self._traffic_hook,
            **role_parameters(profile),
        }
        return {
            "StackName": f"launch-controller-{profile.name}",
            "TemplateBody": rendered(),
            "Parameters": [{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
        }

    def _lifecycle_hook(self, target: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """ECS invoking a deployment's lifecycle hook, a function of the controller's (as the hook's role)."""
        answer, error = self._invoke(target, payload)
        if error:
            raise RuntimeError(f"the lifecycle hook {target} failed: {answer}")
        return answer if isinstance(answer, dict) else None

    def _traffic_split(self) -> Split | None:
        """Where the load balancer sends production traffic while ECS shifts it in steps; with `steady_crowd`,
        the crowd comes at other times too, all of it to the production target group."""
        for shift in list(self.scheduler.shifts.values()):
            if shift.outcome is None and shift.weight > 0:
                return Split(
                    weight=shift.weight,
                    new_target_group=shift.new_target_group,
                    old_target_group=shift.old_target_group,
                    new_image=self.scheduler.image_of(shift.new_task_definition),
                    old_image=self.scheduler.image_of(shift.old_task_definition),
                )
        if not self.steady_crowd or self.site is None:
            return None
        backend = self.profile.backend
        service = self.environment_client("ecs").describe_services(cluster=backend.cluster, services=[backend.service])[
            "services"
        ][0]
        balancer = service["loadBalancers"][0]
        image = self.site.current_image()
        standby = balancer["advancedConfiguration"]["alternateTargetGroupArn"]
        return Split(0.0, standby, balancer["targetGroupArn"], image, image)

    def _invoke(self, function: str, event: dict[str, Any]) -> tuple[Any, str | None]:
        """EventBridge invoking a rule's target function."""
        assert self.bridge is not None, "events are routed once the functions are deployed"
        return self.bridge.invoke(function, event)

    def _local_function(self, deployed: DeployedFunction) -> LocalFunction:
        """The function as Lambda would run it: its handler, its template's environment and its role's
        credentials (a session of its role named after the function, as Lambda's is, assumed as Lambda's
        service assumes it: the role trusts only lambda.amazonaws.com)."""
        credentials = moto_fixes.lambda_service_credentials(ACCOUNT_ID, deployed.role_arn, deployed.function_name)
        environ = {
            **deployed.environment,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_LAMBDA_FUNCTION_NAME": deployed.function_name,
            "LAMBDA_TASK_ROOT": TASK_ROOT,
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
            **self.stand_ins(),
        }
        container = Runtime(environ, name=deployed.name, prepare_session=self.faults.install)
        self.containers[deployed.name] = container
        return LocalFunction(
            name=deployed.name,
            handler=entry_point(deployed.handler),
            function_name=deployed.function_name,
            arn=deployed.arn,
            runtime=container,
            timeout_seconds=deployed.timeout,
        )

    # -- releases and faults, for the demo and the tests ------------------------------------------

    def forget_roles(self) -> None:
        """What a role's changed trust policy costs in time (KEEP_SECONDS): every container reads IAM afresh."""
        from chalicelib.platform import roles

        for container in self.containers.values():
            with running(container):
                roles.forget()

    def shift_traffic_in_steps(self, frontend: FrontendTarget | None = None, **traffic: Any) -> None:
        """The local profile stored with its backend's traffic moved by ECS's CANARY strategy, 10 % first (or as
        `traffic` says), each step watched for a few seconds of the load balancer's crowd, its figures a second
        each; `frontend` in place of the profile's (a frontend canary follows the steps). `shift_traffic_at_once`
        puts it back; so does the stack's restore."""
        from chalicelib.platform.profile_store import push_profile

        steps = self.profile.backend.traffic.model_copy(
            update={
                "shift": "canary",
                "canary_percent": 10.0,
                "step_bake_seconds": 5,
                "figures_period_seconds": 1,
                "min_requests": 15,
                "extensions": 2,
                "hook_role_arn": self.traffic_hook_role,
                **traffic,
            }
        )
        backend = self.profile.backend.model_copy(update={"traffic": steps})
        stepped = self.profile.model_copy(update={"backend": backend, "frontend": frontend or self.profile.frontend})
        push_profile(self.client("ssm"), stepped, self.profiles_path)
        self.forget_profiles()

    def shift_traffic_at_once(self) -> None:
        from chalicelib.platform.profile_store import push_profile

        push_profile(self.client("ssm"), self.profile, self.profiles_path)
        self.forget_profiles()

    def load_balancer_requests(self, start: datetime, end: datetime, errors: bool = False) -> int:
        """The requests (or the 5xx answers) the load balancer served in the window, as its metrics count them."""
        assert self.profile.bake.load_balancer is not None
        metric = "HTTPCode_Target_5XX_Count" if errors else "RequestCount"
        dimensions = {"LoadBalancer": self.profile.bake.load_balancer}
        cloudwatch = self.environment_client("cloudwatch")
        points = datapoints(cloudwatch, "AWS/ApplicationELB", metric, dimensions, start, end, 1, Statistics=["Sum"])
        summed: float = sum(point["Sum"] for point in points)
        return round(summed)

    def forget_profiles(self) -> None:
        """What the profile cache's max age does in time: every container reads the stored profiles afresh
        (a test that pushed one and put it back leaves no container holding its copy)."""
        from chalicelib.platform.profile_store import forget_kept_profiles

        for container in self.containers.values():
            with running(container):
                forget_kept_profiles()

    def publish_release(self, version: str) -> str:
        return publish_release(self.environment_client, version, self.release_defects)

    def _publish_control(self, asked: dict[str, Any]) -> dict[str, Any]:
        """`launchctl local publish VERSION [--defect D]`: the release's build and image, broken as named."""
        version = str(asked["version"])
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}", version):
            raise ControlRefused(f"{version!r} is not a version (letters, digits and . _ + -)")
        defect = asked.get("defect")
        if defect is not None and defect not in RELEASE_FAULTS:
            raise ControlRefused(f"no defect {defect!r}; there are {', '.join(RELEASE_FAULTS)}")
        frontend, image = self.publish_release(version), backend_image(version)
        assert self.site is not None
        for fault, images in self._site_faults(self.site).items():
            images.discard(image)
            if fault == defect:
                images.add(image)
        return {"version": version, "frontend": frontend, "image": image, "defect": defect}

    @staticmethod
    def _site_faults(site: SampleSite) -> dict[str, set[str]]:
        return {
            "unhealthy": site.unhealthy_images,
            "silent": site.silent_images,
            "broken-journey": site.broken_journey_images,
            "flaky": site.flaky_images,
        }

    def _alarm_control(self, asked: dict[str, Any]) -> dict[str, Any]:
        """`launchctl local alarm NAME [--ok]`: one of the environment's alarms set as CloudWatch would."""
        name, state = str(asked["name"]), str(asked.get("state", "ALARM"))
        if state not in {"ALARM", "OK"}:
            raise ControlRefused(f"{state!r} is not a state to set: ALARM or OK")
        cloudwatch = self.environment_client("cloudwatch")
        known = [alarm["AlarmName"] for alarm in cloudwatch.describe_alarms()["MetricAlarms"]]
        if name not in known:
            raise ControlRefused(f"no alarm {name!r}; the environment has {', '.join(sorted(known))}")
        self.set_alarm(name, state)
        return {"alarm": name, "state": state}

    def site_objects(self) -> dict[str, bytes]:
        s3 = self.environment_client("s3")
        bucket = self.profile.frontend.site_bucket
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}

    def service_task_definition(self) -> str:
        backend = self.profile.backend
        ecs = self.environment_client("ecs")
        return str(
            ecs.describe_services(cluster=backend.cluster, services=[backend.service])["services"][0]["taskDefinition"]
        )

    def notifications(self, launch_id: str, event: str | None = None) -> list[dict[str, Any]]:
        """What the team's channel heard about a launch (the notifications topic, Chatbot's format read flat:
        its context, title, description, next steps, and the email subject), oldest first; `event` to take
        one kind (started, awaiting_approval, checkpoint, ended)."""
        return self._published("notifications", launch_id, event)

    def pages(self, launch_id: str) -> list[dict[str, Any]]:
        """What paged a person about a launch (the paging topic), oldest first."""
        return self._published("paging", launch_id, None)

    def _published(self, topic: str, launch_id: str, event: str | None) -> list[dict[str, Any]]:
        from moto.sns.models import sns_backends

        from chalicelib.platform.chat import read

        sent = sns_backends[ACCOUNT_ID][REGION].topics[self.topics[topic]].sent_notifications
        found = []
        for _, message, subject, _, _ in list(sent):
            body = read(message)
            if body.get("launch_id") == launch_id and event in {None, body.get("event")}:
                found.append({"subject": subject, **body})
        return found

    def channel(self) -> list[dict[str, Any]]:
        """What the team's channel (the notifications topic) and the pager (the paging topic) were sent."""
        topics = {name: self.topics[name] for name in ("notifications", "paging")}
        return published(ACCOUNT_ID, REGION, topics)

    def outbox(self) -> list[dict[str, Any]]:
        """The approval emails delivered so far, oldest first, one per recipient."""
        return delivered(ACCOUNT_ID, REGION, self.topics["approvals"])

    def _collect_metrics(self, line: str) -> None:
        """What CloudWatch Logs does with a function's EMF line: the metrics, kept (here, in order)."""
        with self._client_lock:
            self.metrics.append(json.loads(line))
            with self.metrics_file.open("a") as lines:
                lines.write(line + "\n")

    @property
    def metrics_file(self) -> Path:
        """Where the EMF lines are written as they come, for a person to read."""
        return self.credentials_file.parent / "metrics.jsonl"

    def launch_metrics(self, launch_id: str) -> list[dict[str, Any]]:
        """The metrics emitted about a launch: each EMF line as CloudWatch reads it (name, value, unit and
        dimensions, one entry per metric)."""
        found = []
        for line in list(self.metrics):
            if line.get("launch_id") != launch_id:
                continue
            for directive in line["_aws"]["CloudWatchMetrics"]:
                dimensions = {name: line[name] for names in directive["Dimensions"] for name in names}
                for metric in directive["Metrics"]:
                    values = line[metric["Name"]]
                    found.append(
                        {
                            "name": metric["Name"],
                            "unit": metric["Unit"],
                            "value": values[0] if isinstance(values, list) else values,
                            "dimensions": dimensions,
                            "namespace": directive["Namespace"],
                        }
                    )
        return found

    def ended_execution(self, arn: str, timeout: float = 10) -> dict[str, Any]:
        """The execution as Step Functions describes it once it has ended (or at `timeout`): a launch's end is
        written by its finish step, before the execution's last states, so a launch seen ended may still have
        its execution RUNNING for a moment. Step Functions has no waiter for that."""
        import time

        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return dict(described)

    def execution_costs(self, launch_id: str) -> dict[str, int]:
        """What a launch's execution cost: Step Functions' state transitions (every state entered, inside a
        Parallel or a Map too: what Standard workflows bill), the Lambda invocations, the waits."""
        sfn = self.client("stepfunctions")
        arn = self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{launch_id}"
        self.ended_execution(arn)  # its history is counted once it has ended
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            events += page["events"]
        kinds = [event["type"] for event in events]
        return {
            "transitions": sum(kind.endswith("StateEntered") for kind in kinds),
            "lambda_invocations": sum(kind in {"LambdaFunctionScheduled", "TaskScheduled"} for kind in kinds),
            "timers": sum(kind == "WaitStateEntered" for kind in kinds),
        }

    def alarm_total(self, alarm_name: str, since: datetime) -> float:
        """What one of the controller's alarms adds up over [since, now], as CloudWatch would: each of its metrics
        summed (the functions' EMF metrics as CloudWatch Logs makes them metrics; AWS's own, such as AWS/States,
        from the account's CloudWatch), added as its `FILL(m, 0) + ...` expression adds them. (moto evaluates no
        alarm; this is the sum the alarm's threshold is judged against.)"""
        import re

        alarm = self.client("cloudwatch").describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]
        [total] = [query for query in alarm["Metrics"] if query.get("ReturnData")]
        metrics = {query["Id"]: query["MetricStat"]["Metric"] for query in alarm["Metrics"] if "MetricStat" in query}
        terms = re.fullmatch(r"FILL\((\w+), 0\)(?: \+ FILL\((\w+), 0\))*", total["Expression"])
        if terms is None and total["Expression"] not in metrics:
            raise ValueError(f"{alarm_name}: the local sum reads FILL(m, 0) + ... only: {total['Expression']}")
        ids = re.findall(r"FILL\((\w+), 0\)", total["Expression"]) or [total["Expression"]]
        return sum(self._metric_sum(metrics[metric_id], since) for metric_id in ids)

    def _metric_sum(self, metric: dict[str, Any], since: datetime) -> float:
        dimensions = {item["Name"]: item["Value"] for item in metric.get("Dimensions", [])}
        if metric["Namespace"] == telemetry.NAMESPACE:
            found = 0.0
            with self._client_lock:
                lines = list(self.metrics)
            for line in lines:
                if line["_aws"]["Timestamp"] < since.timestamp() * 1000:
                    continue
                for directive in line["_aws"]["CloudWatchMetrics"]:
                    named = {name: line[name] for names in directive["Dimensions"] for name in names}
                    wanted = {m["Name"] for m in directive["Metrics"]}
                    if (
                        directive["Namespace"] == metric["Namespace"]
                        and named == dimensions
                        and metric["MetricName"] in wanted
                    ):
                        value = line[metric["MetricName"]]
                        found += sum(value) if isinstance(value, list) else value
            return found
        start = since.astimezone(UTC).replace(tzinfo=None)  # moto keeps its metrics' times naive
        end = datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=1)
        period = 60 * max(1, int((end - start).total_seconds() // 60) + 1)
        points = self.client("cloudwatch").get_metric_statistics(
            Namespace=metric["Namespace"],
            MetricName=metric["MetricName"],
            Dimensions=metric.get("Dimensions", []),
            StartTime=start,
            EndTime=end,
            Period=period,
            Statistics=["Sum"],
        )["Datapoints"]
        return float(sum(point["Sum"] for point in points))

    def set_alarm(self, name: str, state: str = "ALARM") -> None:
        self.environment_client("cloudwatch").set_alarm_state(
            AlarmName=name, StateValue=state, StateReason=f"set to {state} locally"
        )

    def function_policies(self) -> dict[str, list[dict[str, Any]]]:
        """Each function's role's policies as the account holds them (CloudFormation's substitutions
        resolved), by the function's Chalice name; and, as `<function>@environment`, the environment
        role's policy for what that function does there."""
        from launchctl.build.template import acting_in_environments
        from localaws.faults import ENVIRONMENT_SUFFIX

        assert self.deployment is not None
        policies: dict[str, list[dict[str, Any]]] = {}
        for name, function in sorted(self.deployment.functions.items()):
            policies[name] = _role_policies(self.client("iam"), function.role_arn.rsplit("/", 1)[-1])
        environment = self.environment_client("iam")
        for acting in acting_in_environments():
            # The function's own managed policy there, which limits its sessions of the environment's role.
            policies[acting + ENVIRONMENT_SUFFIX] = [
                _managed_policy(environment, self.profile.target.policy_arn(acting))
            ]
        return policies

    def wait_for(self, launch_id: str, statuses: set[str], timeout: float = 60.0) -> dict[str, Any]:
        """Follow the launch through the API until it reaches one of `statuses`."""
        return self.api_as().wait(launch_id, lambda item: item["status"] in statuses, timeout)

    def break_check(self, check_id: str) -> None:
        """Break one preflight item in the emulated account (see localaws.infrastructure.BREAKERS)."""
        from localaws.infrastructure import BREAKERS, FAILING_RELEASE_TEST, GITHUB_ITEMS, RELEASE_DEFECTS

        if check_id in GITHUB_ITEMS:
            assert self.github is not None
            self.github.default_checks[FAILING_RELEASE_TEST] = "failure"
        else:
            BREAKERS[check_id](self.environment_client, self.profile)
        self.forget_roles()
        self.broken_checks.append(check_id)
        if check_id in RELEASE_DEFECTS:
            self.release_defects.add(check_id)

    def repair(self, check_id: str) -> None:
        """Put back an item `break_check` broke (those with a way back: localaws.infrastructure.REPAIRS)."""
        from localaws.infrastructure import FAILING_RELEASE_TEST, GITHUB_ITEMS, REPAIRS

        if check_id in GITHUB_ITEMS:
            assert self.github is not None
            self.github.default_checks[FAILING_RELEASE_TEST] = "success"
        else:
            REPAIRS[check_id](self.environment_client, self.profile)
        self.forget_roles()
        self.release_defects.discard(check_id)
        while check_id in self.broken_checks:
            self.broken_checks.remove(check_id)

    def restore(self, timeout: float = 90.0) -> list[str]:
        """Put the stack back as a test or a demo found it, however it was left; what had to be put back.

        Faults, slow or failing images and broken items are undone; the local profile, pushed otherwise,
        is stored again as the stack started with it, and no container keeps the other; a launch still
        running is aborted and followed to its end; a lock its ended launch still holds (a failed
        rollback's) is released."""
        from chalicelib.domain.profiles import ProfileError
        from chalicelib.platform.profile_store import push_profile, stored_version
        from chalicelib.platform.wiring import launch_store
        from launchctl.client import ApiError, is_final

        restored: list[str] = []
        if self.lark is not None and self.lark.failing:
            self.lark.failing = 0
            restored.append("the Lark stand-in's planned failures")
        images = [
            self.scheduler.failing_images,
            self.scheduler.slow_images,
            self.scheduler.failing_tasks,
            self.scheduler.slow_tasks,
        ]
        if self.site:
            images += [
                self.site.unhealthy_images,
                self.site.silent_images,
                self.site.broken_journey_images,
                self.site.flaky_images,
                self.site.throwing_releases,
            ]
        recorded = self.github is not None and bool(self.github.checks)
        if self.faults.planted() or self.events.planted() or any(images) or recorded:
            restored.append("faults and failing images")
        if self.site and self.site.flaky_images:
            # Its users' errors would count in the next launch's bake, whose window reaches back a whole minute.
            self.forget_load_balancer_figures()
            restored.append("the load balancer's figures of a flaky release")
        if self.github is not None:
            self.github.forget_checks()
        self.faults.clear()
        self.events.clear()
        emitters.SNAPSHOT_SECONDS = emitters.DEFAULT_SNAPSHOT_SECONDS
        for planted in images:
            planted.clear()
        for check_id in list(self.broken_checks):
            self.repair(check_id)
            restored.append(f"{check_id} repaired")
        if self.site and self.site.cors_open:
            self.site.cors_open = False
            restored.append("the sample API's CORS closed again")
        for alarm in self.profile.bake.alarm_names:
            self.set_alarm(alarm, "OK")
        try:
            stored = stored_version(self.client("ssm"), self.profile.name, path=self.profiles_path).profile
        except ProfileError:
            stored = None  # a test stored a version that is not a profile: push over it
        if stored != self.profile:
            push_profile(self.client("ssm"), self.profile, self.profiles_path)
            self.forget_profiles()
            restored.append("the local profile stored again")
        api = self.api_as()
        for launch in api.list(100, environment="local")["launches"]:
            if not is_final(launch):
                with contextlib.suppress(ApiError):  # it may end, or be a rollback, meanwhile
                    api.abort(launch["launch_id"], "left running by the previous test: ended by the stack's restore")
                api.wait(launch["launch_id"], is_final, timeout=timeout)
                restored.append(f"launch {launch['launch_id']} ended")
        store = launch_store()
        lock = store.lock("local")
        if lock is not None and store.release_lock("local", lock.owner):
            restored.append(f"lock of {lock.owner} released")
        switched = self.profile.frontend.key_value_store_arn
        if self.profile.frontend.layout == "copy" and switched and key_value_store.forget(switched, LIVE_RELEASE_KEY):
            restored.append("the release switch's entry removed: the site's own layout served again")
        if switched and any(
            [key_value_store.forget(switched, key) for key in (CANARY_RELEASE_KEY, CANARY_PERCENT_KEY)]
        ):
            restored.append("a frontend canary's entries removed")
        return restored

    def forget_load_balancer_figures(self) -> None:
        """The load balancer's figures dropped: a bake after a flaky release judges only its own requests."""
        from moto.cloudwatch.models import cloudwatch_backends

        backend = cloudwatch_backends[ENVIRONMENT_ACCOUNT_ID][REGION]
        backend.metric_data = [datum for datum in backend.metric_data if datum.namespace != "AWS/ApplicationELB"]

    @contextlib.contextmanager
    def broken(self, check_id: str) -> Iterator[None]:
        """The item broken for the block, and whole again after it, however the block ends."""
        from localaws.infrastructure import GITHUB_ITEMS, REPAIRS

        if check_id not in REPAIRS and check_id not in GITHUB_ITEMS:
            raise ValueError(f"{check_id} has no repair: a shared stack cannot be left with it broken")
        self.break_check(check_id)
        try:
            yield
        finally:
            self.repair(check_id)

    # -- callers ---------------------------------------------------------------------------------

    @property
    def audience(self) -> str:
        """What this controller expects a token to name: its API's host (the template's default)."""
        return urllib.parse.urlsplit(self.api_url).netloc

    @property
    def credentials_file(self) -> Path:
        return local_credentials_file(self.api_port)

    def api_as(self, person: str = RELEASE_ENGINEER) -> ControllerApi:
        """The API as a local person, signed in with their IAM user's keys (an IAM token, renewed as it ages).

        One client per person for the stack's life: a boto3 session and its STS client cost a service
        model's load each."""
        with self._client_lock:
            if person not in self._people_apis:
                key, secret = self.people[person]
                session = shared_session(aws_access_key_id=key, aws_secret_access_key=secret, region_name=REGION)
                credential = IamToken(session, self.audience, self.moto_url)
                self._people_apis[person] = ControllerApi(self.api_url, credential, retries=1, backoff=0.2)
            return self._people_apis[person]

    def github_api(self, **claims: str) -> ControllerApi:
        """The API as a GitHub Actions job (default: acme/shop in its `local` environment), a fresh token per call."""
        assert self.issuer is not None
        issuer = self.issuer

        def token() -> str:
            return f"Bearer {issuer.issue(**claims)}"  # type: ignore[arg-type]  # a job's claims, all strings

        return ControllerApi(self.api_url, token, retries=1, backoff=0.2)


def _role_policies(iam: Any, role: str) -> list[dict[str, Any]]:
    """A role's inline and attached policies' documents."""
    documents = [
        iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
        for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]
    ]
    for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        documents.append(_managed_policy(iam, attached["PolicyArn"]))
    return documents


def _managed_policy(iam: Any, arn: str) -> dict[str, Any]:
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return dict(iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"])


def entry_point(handler: str) -> Any:
    """What Lambda calls for a function's `Handler` (module.attribute), found as Lambda finds it."""
    import importlib

    module, _, attribute = handler.rpartition(".")
    return getattr(importlib.import_module(module), attribute)
