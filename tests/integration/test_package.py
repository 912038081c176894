"""`make package`: the deployable SAM template, with the state machine, lints clean."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

# Packaged once per run, whichever workers run these tests: xdist 3.8's loadgroup does not keep a group
# on one worker (measured: these tests ran on all three, each packaging for 25 s), so the first worker to
# need the package builds it under the run's shared temporary folder while the others wait.

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> tuple[Path, dict]:
    import fcntl

    # With workers, the parent of each one's temporary folder is this run's; without, its own folder is.
    run = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    with (run / "package.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sam = run / "package" / "pkg" / "sam.json"
        if not sam.exists():
            building = Path(tempfile.mkdtemp(prefix="package-", dir=run))
            _package(building)
            building.rename(run / "package")
    return sam, json.loads(sam.read_text())


def _package(out: Path) -> None:
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_ENDPOINT_URL", None)
    subprocess.run(
        [sys.executable, "-m", "launchctl.build.template", str(out / "merge.json")], cwd=ROOT, check=True, env=env
    )
    # Packaged from a copy of what Chalice packages: `chalice package` caches its zip under the project's
    # .chalice/deployments, which two packagings at once (test workers, or a developer's make package)
    # would write together.
    project = out / "project"
    project.mkdir()
    for name in ("app.py", "requirements.txt"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "chalicelib", project / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    (project / ".chalice").mkdir()
    shutil.copy(ROOT / ".chalice" / "config.json", project / ".chalice" / "config.json")
    shutil.copytree(ROOT / ".chalice" / "policies", project / ".chalice" / "policies")
    subprocess.run(
        [
            str(BIN / "chalice"),
            "package",
            "--stage",
            "prod",
            "--merge-template",
            str(out / "merge.json"),
            str(out / "pkg"),
        ],
        cwd=project,
        check=True,
        env=env,
        capture_output=True,
    )
    subprocess.run([sys.executable, "-m", "launchctl.build.package", str(out / "pkg")], cwd=ROOT, check=True, env=env)


TARGET_ROLE = ROOT / "deploy" / "target-account-role.json"


def test_the_packaged_template_and_the_target_account_template_pass_cfn_lint(template: tuple[Path, dict]) -> None:
    path, _ = template
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    command = [str(BIN / "cfn-lint"), str(path), str(TARGET_ROLE)]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_finds_nothing_in_the_templates_that_is_not_explained(template: tuple[Path, dict]) -> None:
    """Every finding, in the packaged template and the target-account one (one checkov run: it takes 15 s to
    start), is fixed, or skipped in the template's metadata with why it does not apply."""
    path, _ = template
    checkov = ROOT / ".venv-checkov" / "bin" / "checkov"
    assert checkov.exists(), "make test builds checkov's own venv (.venv-checkov)"
    files = ["-f", str(path), "-f", str(TARGET_ROLE)]
    command = [str(checkov), *files, "--framework", "cloudformation", "--skip-download", "-o", "json"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=path.parent)
    report = json.loads(result.stdout)["results"]
    failed = [f"{check['check_id']} {check['resource']}: {check['check_name']}" for check in report["failed_checks"]]
    assert failed == []
    assert {Path(check["file_path"]).name for check in report["passed_checks"]} == {path.name, TARGET_ROLE.name}
    unexplained = [
        check["check_id"]
        for check in report["skipped_checks"]
        if len(check["check_result"].get("suppress_comment", "")) < 20
    ]
    assert unexplained == []


def test_an_api_domain_maps_to_the_apis_stage_and_becomes_the_approval_links_base(template: tuple[Path, dict]) -> None:
    """ApiDomainName makes a regional custom domain (TLS 1.2) mapped at its root to the API's stage, and,
    unless PublicApiUrl says otherwise, the emailed links use it; without a certificate the stack refuses."""
    from localaws.deployment import translate

    _, body = template
    translated = translate(body, "us-east-1")
    resources = translated["Resources"]
    domain, mapping = resources["ApiDomain"], resources["ApiDomainMapping"]
    assert domain["Condition"] == mapping["Condition"] == "HasApiDomain"
    assert domain["Properties"]["SecurityPolicy"] == "TLS_1_2"
    assert domain["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    stage = mapping["Properties"]["Stage"]["Ref"]
    assert resources[stage]["Type"] == "AWS::ApiGateway::Stage"
    assert "BasePath" not in mapping["Properties"]
    link_base = resources["RequestApprovals"]["Properties"]["Environment"]["Variables"]["PUBLIC_API_URL"]
    assert link_base == translated["Outputs"]["ApprovalLinkBase"]["Value"]
    assert link_base["Fn::If"][2] == {
        "Fn::If": [
            "HasApiDomain",
            {"Fn::Sub": "https://${ApiDomainName}"},
            {"Fn::Sub": "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api"},
        ]
    }
    [assertion] = translated["Rules"]["ApiDomainNeedsCertificate"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ApiCertificateArn"}, ""]}]}


def test_the_state_machine_is_bound_to_every_stage_lambda(template: tuple[Path, dict]) -> None:
    _, body = template
    machine = body["Resources"]["LaunchStateMachine"]["Properties"]
    assert machine["Definition"]["StartAt"] == "Begin launch"
    for placeholder, value in machine["DefinitionSubstitutions"].items():
        function = value["Fn::GetAtt"][0]
        assert placeholder == f"{function}FunctionArn"
        assert body["Resources"][function]["Type"] == "AWS::Serverless::Function"


def test_the_table_and_topics_reach_every_function(template: tuple[Path, dict]) -> None:
    _, body = template
    variables = body["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["LAUNCH_TABLE"] == {"Ref": "LaunchTable"}
    assert body["Resources"]["LaunchTable"]["Type"] == "AWS::DynamoDB::Table"
    assert body["Resources"]["LaunchTable"]["Properties"]["DeletionProtectionEnabled"] is True
    assert body["Resources"]["LaunchTable"]["DeletionPolicy"] == "Retain"
    assert {"ApprovalsTopic", "NotificationsTopic"} <= set(body["Resources"])
    # The approval links' signing key is generated by the stack and never written in the template.
    assert variables["APPROVAL_KEY_SECRET_ID"] == {"Ref": "ApprovalLinkKey"}
    key = body["Resources"]["ApprovalLinkKey"]
    assert key["Type"] == "AWS::SecretsManager::Secret"
    assert "GenerateSecretString" in key["Properties"]


def test_the_lambda_package_holds_no_profile_test_or_local_tools(template: tuple[Path, dict]) -> None:
    import zipfile

    path, _ = template
    names = zipfile.ZipFile(path.parent / "deployment.zip").namelist()
    assert "app.py" in names
    # Profiles are deployed configuration (Parameter Store), never packaged code.
    assert not [name for name in names if name.endswith((".toml", "profiles/local.json"))]
    for unwanted in ("moto/", "launchctl/", "tests/", "pytest/", "cfnlint/"):
        assert not any(name.startswith(unwanted) for name in names), unwanted


def test_each_function_has_its_own_role_with_its_own_policy(template: tuple[Path, dict]) -> None:
    _, body = template
    functions = {name: r for name, r in body["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    roles = {f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions.values()}
    assert len(roles) == len(functions)
    policies = {json.dumps(body["Resources"][role]["Properties"]["Policies"], sort_keys=True) for role in roles}
    assert len(policies) == len(functions)


def test_every_function_is_traced_keeps_its_logs_a_while_and_the_api_has_a_concurrency_cap(
    template: tuple[Path, dict],
) -> None:
    _, body = template
    resources = body["Resources"]
    functions = {name: r for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    assert {f["Properties"]["Tracing"] for f in functions.values()} == {"Active"}
    kept = {
        r["Properties"]["LogGroupName"]["Fn::Sub"]: r["Properties"]["RetentionInDays"]
        for r in resources.values()
        if r["Type"] == "AWS::Logs::LogGroup"
        and r["Properties"].get("LogGroupName", {}).get("Fn::Sub", "").startswith("/aws/lambda/")
    }
    assert {f"/aws/lambda/${{{name}}}" for name in functions} <= set(kept)
    assert set(kept.values()) == {90}
    assert functions["APIHandler"]["Properties"]["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasApiReservedConcurrency", {"Ref": "ApiReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert body["Parameters"]["ApiReservedConcurrency"]["Default"] == 50


def test_the_local_stack_deploys_exactly_the_packaged_template(template: tuple[Path, dict], stack: Any) -> None:
    """`sam_template()` is what `chalice package` writes, and the stack deploys exactly it: no profile is
    compiled into the package, so nothing differs locally, not even a policy."""
    from launchctl.build.template import sam_template

    _, body = template
    assert sam_template() == body
    assert stack.template == body


def test_the_api_stage_is_rate_capped_access_logged_and_traced(template: tuple[Path, dict]) -> None:
    from localaws.deployment import translate

    _, body = template
    stage = next(
        r["Properties"]
        for r in translate(body, "us-east-1")["Resources"].values()
        if r["Type"] == "AWS::ApiGateway::Stage"
    )
    assert stage["TracingEnabled"] is True
    [everything] = stage["MethodSettings"]
    assert (everything["ResourcePath"], everything["HttpMethod"]) == ("/*", "*")
    assert everything["ThrottlingRateLimit"] == {"Ref": "ApiRateLimit"}
    assert everything["ThrottlingBurstLimit"] == {"Ref": "ApiBurstLimit"}
    assert stage["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    logged = json.loads(stage["AccessLogSetting"]["Format"])
    assert {"requestId", "ip", "status", "resource"} <= set(logged)
    # The approval link's token travels in its query string, which no field of the access log holds.
    assert not any("querystring" in value.lower() or "$context.path" in value for value in logged.values())


def test_the_package_holds_only_the_aws_models_the_code_uses_and_nothing_local(template: tuple[Path, dict]) -> None:
    import zipfile

    from launchctl.build.package import services_used

    path, _ = template
    names = zipfile.ZipFile(path.parent / "deployment.zip").namelist()
    models = {name.split("/")[2] for name in names if name.startswith("botocore/data/") and name.count("/") >= 3}
    assert models == services_used()
    assert {"dynamodb", "stepfunctions", "cloudwatch", "ecs"} <= models
    ec2_versions = {name.split("/")[3] for name in names if name.startswith("botocore/data/ec2/")}
    assert len(ec2_versions) == 1, "one API version per service"


def test_what_a_function_imports_to_start_is_compiled_for_the_lambda_runtime(template: tuple[Path, dict]) -> None:
    import zipfile

    path, body = template
    runtime = body["Resources"]["BeginLaunch"]["Properties"]["Runtime"]
    tag = "cpython-" + runtime.removeprefix("python").replace(".", "")
    names = set(zipfile.ZipFile(path.parent / "deployment.zip").namelist())
    for module in ("app", "chalicelib/stages/harness", "botocore/session", "pydantic/main"):
        folder, _, name = module.rpartition("/")
        assert f"{folder + '/' if folder else ''}__pycache__/{name}.{tag}.pyc" in names, module
    # Modules no function imports to start carry no bytecode: it would only make the zip bigger.
    unused = "aws_lambda_powertools/utilities/batch/"
    assert not any(name.startswith(unused) and name.endswith(".pyc") for name in names)
    size = (path.parent / "deployment.zip").stat().st_size
    # Lambda takes 50 MB zipped; this bound catches a dependency dragged in by mistake (the X-Ray SDK and
    # wrapt, for the Tracer, brought it from 15.0 to 15.2 MB; the AWS CRT, which signs the release switch's
    # SigV4A calls, about 4.4 MB more; tzdata, the deploy windows' time zones, bundled because a Lambda
    # runtime's image is not promised to carry /usr/share/zoneinfo, 0.4 MB).
    assert size < 21_000_000, f"{size / 1e6:.1f} MB"


def test_every_name_the_stack_gives_carries_its_prefix_so_two_copies_fit_in_one_account(
    template: tuple[Path, dict],
) -> None:
    _, body = template
    resources = body["Resources"]
    named = {
        "LaunchTable": "TableName",
        "ApprovalsTopic": "TopicName",
        "NotificationsTopic": "TopicName",
        "LaunchStateMachine": "StateMachineName",
        "LaunchStateMachineLogs": "LogGroupName",
        "ApprovalLinkKey": "Name",
    }
    for resource, name in named.items():
        assert "${NamePrefix}" in resources[resource]["Properties"][name]["Fn::Sub"], resource
    assert "launch-controller" not in json.dumps({k: v for k, v in resources.items() if k in named})


def test_each_functions_policy_names_the_controllers_own_resources_in_the_stacks_partition(
    template: tuple[Path, dict],
) -> None:
    _, body = template
    functions = {
        r["Properties"]["Role"]["Fn::GetAtt"][0]
        for r in body["Resources"].values()
        if "Role" in r.get("Properties", {}) and r["Type"] == "AWS::Serverless::Function"
    }
    for role in functions:
        [policy] = body["Resources"][role]["Properties"]["Policies"]
        text = json.dumps(policy)
        assert "arn:*" not in text, role
        assert "arn:aws:" not in text, role
        assert "launch-controller" not in text, role
        for statement in policy["PolicyDocument"]["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for resource in resources:
                assert resource == "*" or resource["Fn::Sub"].startswith("arn:${AWS::Partition}:"), (role, resource)
    finish = json.dumps(body["Resources"]["FinishLaunchRole"]["Properties"]["Policies"])
    assert "${NamePrefix}-notifications" in finish
    assert "${NamePrefix}-approvals" not in finish


def test_an_alert_email_is_subscribed_to_the_paging_topic_only_when_one_is_given(template: tuple[Path, dict]) -> None:
    _, body = template
    subscription = body["Resources"]["AlertEmailSubscription"]
    assert subscription["Condition"] == "HasAlertEmail"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "PagingTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlertEmail"},
    }
    assert body["Parameters"]["AlertEmail"]["Default"] == ""
