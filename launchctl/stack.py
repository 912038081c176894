"""The embedded local AWS: moto with Step Functions executing the real ASL, the Lambda bridge, the API."""

from __future__ import annotations

import json
import os
import secrets
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from launchctl import moto_fixes
from launchctl.approvers import sync_subscriptions
from launchctl.asl import ASL_PATH, bind_definition
from launchctl.bridge import LambdaBridge, chalice_functions
from launchctl.client import ControllerApi
from launchctl.credentials import (
    AUDIENCE,
    RELEASE_ENGINEER,
    IamToken,
    create_people,
    local_credentials_file,
    local_people,
    write_local_credentials,
)
from launchctl.ecs_scheduler import EcsScheduler
from launchctl.faults import FaultInjector
from launchctl.infrastructure import ACCOUNT_ID, REGION, create_environment, publish_release
from launchctl.oidc import LocalIssuer
from launchctl.outbox import OutboxServer, delivered
from launchctl.sample_site import SampleSite

ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "launch-controller"
CHALICE_STAGE = "local"


@dataclass(frozen=True)
class Ports:
    moto: int = 24560
    api: int = 24561
    site: int = 24562
    websocket: int = 24563
    outbox: int = 24564
    oidc: int = 24565


class LocalStack:
    """Everything a launch needs, in this process, on loopback ports; never real AWS."""

    def __init__(self, ports: Ports = Ports(), host: str = "127.0.0.1") -> None:
        self.ports = ports
        self.host = host
        self.moto_url = f"http://{host}:{ports.moto}"
        self.api_url = f"http://{host}:{ports.api}"
        self._moto: Any = None
        self._api: Any = None
        self._clients: dict[str, Any] = {}
        self._client_lock = threading.Lock()
        self.bridge: LambdaBridge | None = None
        self.scheduler = EcsScheduler(REGION)
        self.faults = FaultInjector()
        self.site: SampleSite | None = None
        self.outbox_server: OutboxServer | None = None
        self.state_machine_arn = ""
        self.topics: dict[str, str] = {}
        self.issuer: LocalIssuer | None = None
        self.people: dict[str, tuple[str, str]] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> LocalStack:
        self.issuer = LocalIssuer(self.host, self.ports.oidc).start()
        self._environment()
        self._start_moto()
        from chalicelib import aws
        from chalicelib.profiles import load_profile
        from chalicelib.settings import settings

        aws.reset_clients()
        settings.cache_clear()
        self.profile = load_profile("local")
        import app as chalice_app

        self.bridge = LambdaBridge(chalice_functions(chalice_app.app), f"{APP_NAME}-{CHALICE_STAGE}-", self.faults)
        self.bridge.install()
        self.faults.install(aws.session())
        self.bootstrap()
        settings.cache_clear()
        self.scheduler.start()
        self.site = SampleSite(
            self.host,
            self.ports.site,
            self.ports.websocket,
            self.client,
            self.profile.frontend.site_bucket,
            self.profile.backend.cluster,
            self.profile.backend.service,
        )
        self.site.start()
        self.outbox_server = OutboxServer(self.host, self.ports.outbox, self.outbox)
        self.outbox_server.start()
        self._start_api(chalice_app.app)
        return self

    def stop(self) -> None:
        if self._api:
            self._api.shutdown()
        if self.site:
            self.site.stop()
        if self.outbox_server:
            self.outbox_server.stop()
        self.scheduler.stop()
        if self.bridge:
            self.bridge.uninstall()
        if self._moto:
            self._moto.stop()
        if self.issuer:
            self.issuer.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def _environment(self) -> None:
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_ENDPOINT_URL": self.moto_url,
                "MOTO_PORT": str(self.ports.moto),
                "LAUNCH_TABLE": "launch-controller-local",
                "PUBLIC_API_URL": self.api_url,
                "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "ERROR"),
                "POWERTOOLS_SERVICE_NAME": APP_NAME,
                # The API verifies tokens of the local issuer and asks moto's STS, with the same code as on AWS.
                "OIDC_ISSUER": self.issuer.url if self.issuer else "",
                "OIDC_AUDIENCE": AUDIENCE,
                "STS_ENDPOINT_URL": self.moto_url,
            }
        )
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_SECURITY_TOKEN"):
            os.environ.pop(name, None)

    def _start_moto(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # The interpreter logs every Fail state as an error; the launch's timeline tells it better.
        logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)

        self._moto = ThreadedMotoServer(ip_address=self.host, port=self.ports.moto, verbose=False)
        self._moto.start()
        moto_fixes.apply()
        request = urllib.request.Request(
            f"{self.moto_url}/moto-api/config",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def _start_api(self, app: Any) -> None:
        from chalice.config import Config
        from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer

        class QuietHandler(ChaliceRequestHandler):
            def log_message(self, *_: Any) -> None:
                return

        # What chalice.local.create_local_server does, with a handler that keeps the terminal for the CLI.
        if not isinstance(app, LocalChalice):
            CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
            app.__class__ = CustomLocalChalice
        config = Config.create(chalice_stage=CHALICE_STAGE, app_name=APP_NAME, project_dir=str(ROOT))
        self._api = LocalDevServer(app, config, self.host, self.ports.api, handler_cls=QuietHandler)
        threading.Thread(target=self._api.server.serve_forever, name="chalice-local", daemon=True).start()

    def client(self, service: str) -> Any:
        """A client of the emulated AWS, for the stack itself, tests and the demo."""
        with self._client_lock:
            if service not in self._clients:
                self._clients[service] = boto3.session.Session().client(
                    service, region_name=REGION, endpoint_url=self.moto_url
                )
            return self._clients[service]

    # -- the emulated account ------------------------------------------------------------------

    def bootstrap(self) -> None:
        """Create the controller's own resources and the infrastructure the local profile names."""
        from chalicelib.store import table_definition

        self.client("dynamodb").create_table(**table_definition(os.environ["LAUNCH_TABLE"]))
        sns = self.client("sns")
        for name in ("approvals", "notifications"):
            self.topics[name] = sns.create_topic(Name=f"{APP_NAME}-{name}")["TopicArn"]
        os.environ["APPROVALS_TOPIC_ARN"] = self.topics["approvals"]
        os.environ["NOTIFICATIONS_TOPIC_ARN"] = self.topics["notifications"]
        # What the deploy template's generated secret is on AWS: a random key for signing approval links.
        key = self.client("secretsmanager").create_secret(
            Name=f"{APP_NAME}/approval-link-key", SecretString=secrets.token_urlsafe(48)
        )
        os.environ["APPROVAL_KEY_SECRET_ID"] = key["ARN"]
        sync_subscriptions(sns, self.topics["approvals"], self.profile)
        self.people = create_people(self.client("iam"), local_people(self.profile))
        write_local_credentials(self.people, self.credentials_file)
        create_environment(self.client, self.profile, self.topics["notifications"])
        definition_text = bind_definition(
            ASL_PATH.read_text(),
            lambda name: f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{APP_NAME}-{CHALICE_STAGE}-{name}",
        )
        self.state_machine_arn = self.client("stepfunctions").create_state_machine(
            name=f"{APP_NAME}-launch",
            definition=definition_text,
            roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{APP_NAME}-states",
            type="STANDARD",
        )["stateMachineArn"]
        os.environ["LAUNCH_STATE_MACHINE_ARN"] = self.state_machine_arn

    # -- releases and faults, for the demo and the tests ------------------------------------------

    def publish_release(self, version: str) -> str:
        return publish_release(self.client, version)

    def site_objects(self) -> dict[str, bytes]:
        s3 = self.client("s3")
        bucket = self.profile.frontend.site_bucket
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}

    def service_task_definition(self) -> str:
        backend = self.profile.backend
        return self.client("ecs").describe_services(cluster=backend.cluster, services=[backend.service])["services"][0][
            "taskDefinition"
        ]

    def notifications(self, launch_id: str) -> list[dict[str, Any]]:
        """What the notifications topic published about a launch (subject and message), oldest first."""
        from moto.sns.models import sns_backends

        topic = sns_backends[ACCOUNT_ID][REGION].topics[self.topics["notifications"]]
        found = []
        for _, message, subject, _, _ in list(topic.sent_notifications):
            body = json.loads(message)
            if body.get("launch_id") == launch_id:
                found.append({"subject": subject, **body})
        return found

    def outbox(self) -> list[dict[str, Any]]:
        """The approval emails delivered so far, oldest first, one per recipient."""
        return delivered(ACCOUNT_ID, REGION, self.topics["approvals"])

    def set_alarm(self, name: str, state: str = "ALARM") -> None:
        self.client("cloudwatch").set_alarm_state(
            AlarmName=name, StateValue=state, StateReason=f"set to {state} locally"
        )

    def wait_for(self, launch_id: str, statuses: set[str], timeout: float = 60.0) -> dict[str, Any]:
        """Follow the launch through the API until it reaches one of `statuses`."""
        return self.api_as().wait(launch_id, lambda item: item["status"] in statuses, timeout)

    def break_check(self, check_id: str) -> None:
        """Break one preflight item in the emulated account (see launchctl.infrastructure.BREAKERS)."""
        from launchctl.infrastructure import BREAKERS

        BREAKERS[check_id](self.client, self.profile)

    # -- callers ---------------------------------------------------------------------------------

    @property
    def credentials_file(self) -> Path:
        return local_credentials_file(self.ports.api)

    def api_as(self, person: str = RELEASE_ENGINEER) -> ControllerApi:
        """The API as a local person, signed in with their IAM user's keys (an IAM token per call)."""
        key, secret = self.people[person]
        session = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name=REGION)
        return ControllerApi(self.api_url, IamToken(session, AUDIENCE, self.moto_url))

    def github_api(self, **claims: str) -> ControllerApi:
        """The API as a GitHub Actions job (default: acme/shop in its `local` environment), a fresh token per call."""
        assert self.issuer is not None
        issuer = self.issuer
        return ControllerApi(self.api_url, lambda: f"Bearer {issuer.issue(**claims)}")
