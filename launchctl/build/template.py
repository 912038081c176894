"""The deployable SAM template: Chalice's Lambdas and API merged with deploy/resources.json and the ASL.

`make package` writes it with `chalice package` (and the code's zip); `sam_template()` builds the same
template in-process without the zip, for the local stack, which deploys it."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from launchctl.build.asl import ASL_PATH, resource_names

ROOT = Path(__file__).resolve().parents[2]
# The Chalice stage the template is packaged from: the one deployment, whatever account it goes to.
PACKAGED_STAGE = "prod"
# Where `chalice package` points every function's code; `sam deploy` or `aws cloudformation package`
# uploads it and rewrites the URI.
CODE_URI = "./deployment.zip"


def merge_template(resources: dict[str, Any], asl_text: str) -> dict[str, Any]:
    """Inline the definition; each ${XFunctionArn} becomes the ARN of Chalice's resource X."""
    functions = resource_names(asl_text)
    machine = resources["Resources"]["LaunchStateMachine"]["Properties"]
    machine["Definition"] = json.loads(asl_text)
    machine["DefinitionSubstitutions"] = {
        f"{function}FunctionArn": {"Fn::GetAtt": [function, "Arn"]} for function in functions
    }
    invoke = resources["Resources"]["LaunchStateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    invoke["Statement"][0]["Resource"] = [{"Fn::GetAtt": [function, "Arn"]} for function in functions]
    return resources


# What a function that acts in environments may assume: each environment's role, which the target-account
# template makes under the controller's path (role/<NamePrefix>/<NamePrefix>-<environment>), in any account.
ENVIRONMENT_ROLES = {
    "Sid": "EnvironmentRoles",
    "Effect": "Allow",
    "Action": ["sts:AssumeRole", "sts:TagSession"],
    "Resource": "arn:${AWS::Partition}:iam::*:role/${NamePrefix}/*",
}


def role_policies(project_dir: Path = ROOT) -> dict[str, Any]:
    """Each function's role with its policy file as CloudFormation reads it (each `${NamePrefix}` or
    `${AWS::Partition}` an Fn::Sub: Chalice copies a policy file verbatim; the merge replaces its copy).
    A function with needs in the environments (`policies/environment/<function>.json`) may assume their
    roles; it holds no right over any environment's resources itself."""
    from chalice.utils import to_cfn_resource_name

    roles: dict[str, Any] = {}
    for function, policy_file in sorted(policy_files(project_dir).items()):
        role = f"{to_cfn_resource_name(function)}Role"
        document = json.loads((project_dir / ".chalice" / policy_file).read_text())
        if function in acting_in_environments(project_dir):
            document["Statement"].append(ENVIRONMENT_ROLES)
        roles[role] = {
            "Properties": {"Policies": [{"PolicyName": f"{role}Policy", "PolicyDocument": _substituted(document)}]}
        }
    return roles


def policy_files(project_dir: Path = ROOT) -> dict[str, str]:
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    return {"api_handler": config["iam_policy_file"]} | {
        name: function["iam_policy_file"]
        for name, function in config.get("lambda_functions", {}).items()
        if "iam_policy_file" in function
    }


def acting_in_environments(project_dir: Path = ROOT) -> list[str]:
    """The functions that act in environments, as their roles: what the environment's role must trust."""
    from launchctl.build.target_role import environment_policies

    return sorted(environment_policies(project_dir / ".chalice" / "policies" / "environment"))


def environment_role_trust(project_dir: Path = ROOT) -> dict[str, Any]:
    """The stack output the target-account template's ControllerRoleArns takes: those functions' roles."""
    from chalice.utils import to_cfn_resource_name

    roles = [{"Fn::GetAtt": [f"{to_cfn_resource_name(f)}Role", "Arn"]} for f in acting_in_environments(project_dir)]
    return {
        "EnvironmentRoleTrust": {
            "Description": "ControllerRoleArns of deploy/target-account-role.json: the roles an environment's role "
            "trusts",
            "Value": {"Fn::Join": [",", roles]},
        }
    }


def _substituted(value: Any) -> Any:
    if isinstance(value, str):
        return {"Fn::Sub": value} if "${" in value else value
    if isinstance(value, list):
        return [_substituted(item) for item in value]
    if isinstance(value, dict):
        return {key: _substituted(item) for key, item in value.items()}
    return value


# checkov's findings on every function Chalice makes, and why each does not apply (its log groups': in
# deploy/resources.json beside the controller's own log groups).
FUNCTION_CHECKS_NOT_APPLYING = {
    "CKV_AWS_116": "Invoked synchronously (by the state machine, or API Gateway): a dead-letter queue receives only "
    "asynchronous invocations; a failure reaches the state machine's Catch and the launch's timeline",
    "CKV_AWS_117": "Calls only AWS APIs and the public site under launch: nothing in a VPC to reach, and a VPC would "
    "need a NAT gateway or endpoints for every AWS call",
    "CKV_AWS_173": "Its variables are resource names and URLs, no secrets (the link key is read from Secrets "
    "Manager); Lambda encrypts them at rest with its AWS managed key",
}
STAGE_FUNCTION_CHECKS_NOT_APPLYING = {
    "CKV_AWS_115": "Invoked only by the launch state machine, one launch per environment at a time: a reservation "
    "would take capacity from the account (the API's function, the public entry point, has one)",
}
# The functions EventBridge invokes (app.py's @app.on_cw_event and @app.schedule handlers), asynchronously.
EVENT_FUNCTIONS = ("launch_events", "execution_ended", "watch_launches")
EVENT_FUNCTION_CHECKS_NOT_APPLYING = {
    "CKV_AWS_116": "Invoked asynchronously by EventBridge: an event Lambda's retries could not handle is made up for "
    "by the wait's deadline, where one last look at the resource decides, and the watch runs again in 5 minutes; "
    "a dead-letter queue would keep events no launch waits on any more",
    "CKV_AWS_115": "Invoked for the environments' ECS, RDS and alarm events about launches, for executions that "
    "ended unfinished, and every 5 minutes for the watch: a handful per launch; a reservation would take capacity "
    "from the account",
}
LOG_GROUP_CHECKS_NOT_APPLYING = {
    "CKV_AWS_158": "CloudWatch Logs encrypts it at rest with its own keys; it holds no secrets (no token, link or "
    "query string is logged)",
}


def _not_applying(checks: dict[str, str]) -> dict[str, Any]:
    return {"Metadata": {"checkov": {"skip": [{"id": check, "comment": why} for check, why in checks.items()]}}}


def function_check_notes(project_dir: Path = ROOT) -> dict[str, Any]:
    """The checks that do not apply to Chalice's functions and their log groups, with why, for the merge."""
    from chalice.utils import to_cfn_resource_name

    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    notes: dict[str, Any] = {
        "APIHandler": _not_applying(FUNCTION_CHECKS_NOT_APPLYING),
        f"{to_cfn_resource_name('api_handler')}LogGroup": _not_applying(LOG_GROUP_CHECKS_NOT_APPLYING),
    }
    for name in config.get("lambda_functions", {}):
        if name == "api_handler":
            continue  # the API's settings (Chalice names its function APIHandler)
        function = to_cfn_resource_name(name)
        kind = EVENT_FUNCTION_CHECKS_NOT_APPLYING if name in EVENT_FUNCTIONS else STAGE_FUNCTION_CHECKS_NOT_APPLYING
        notes[function] = _not_applying(FUNCTION_CHECKS_NOT_APPLYING | kind)
        notes[f"{function}LogGroup"] = _not_applying(LOG_GROUP_CHECKS_NOT_APPLYING)
    return notes


def function_ids(project_dir: Path = ROOT) -> dict[str, str]:
    """Each function's logical id in the template, by its Chalice name."""
    from chalice.utils import to_cfn_resource_name

    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    names = {"api_handler", *config.get("lambda_functions", {})}
    return {name: "APIHandler" if name == "api_handler" else to_cfn_resource_name(name) for name in sorted(names)}


# How many environment accounts' hook roles may invoke the traffic hook: one permission each (a Lambda
# function's resource policy names one principal a statement; CloudFormation cannot loop over a list).
HOOK_ACCOUNTS = 10


def _account(index: int) -> dict[str, Any]:
    """The `index`-th of EnvironmentAccounts, or "" past its end (the list padded with empty items)."""
    padded = {"Fn::Join": ["", [{"Fn::Join": [",", {"Ref": "EnvironmentAccounts"}]}, "," * HOOK_ACCOUNTS]]}
    return {"Fn::Select": [index, {"Fn::Split": [",", padded]}]}


def traffic_hook() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(conditions, resources, function properties) of the lifecycle hook ECS invokes at each step of a canary
    or linear rollout: each environment account may invoke judge_traffic_step (as the hook role its
    target-account stack makes), and deploy_backend names the function to ECS."""
    from chalice.utils import to_cfn_resource_name

    hook = to_cfn_resource_name("judge_traffic_step")
    conditions = {
        f"HasEnvironmentAccount{index}": {"Fn::Not": [{"Fn::Equals": [_account(index), ""]}]}
        for index in range(HOOK_ACCOUNTS)
    }
    resources = {
        f"{hook}FromEnvironment{index}": {
            "Type": "AWS::Lambda::Permission",
            "Condition": f"HasEnvironmentAccount{index}",
            "Properties": {
                "FunctionName": {"Fn::GetAtt": [hook, "Arn"]},
                "Action": "lambda:InvokeFunction",
                "Principal": _account(index),
            },
        }
        for index in range(HOOK_ACCOUNTS)
    }
    variables = {"TRAFFIC_HOOK_ARN": {"Fn::GetAtt": [hook, "Arn"]}}
    properties = {to_cfn_resource_name("deploy_backend"): {"Properties": {"Environment": {"Variables": variables}}}}
    return conditions, resources, properties


def project_merge_template(project_dir: Path = ROOT) -> dict[str, Any]:
    from chalice.utils import to_cfn_resource_name

    from launchctl.build.monitoring import monitoring_resources

    resources = json.loads((project_dir / "deploy" / "resources.json").read_text())
    resources["Resources"] |= role_policies(project_dir)
    resources["Resources"] |= monitoring_resources(function_ids(project_dir))
    resources["Outputs"] |= environment_role_trust(project_dir)
    hook_conditions, hook_resources, hook_properties = traffic_hook()
    resources["Conditions"] |= hook_conditions
    resources["Resources"] |= hook_resources
    resources["Outputs"]["TrafficHookArn"] = {
        "Description": "ControllerTrafficHook of deploy/target-account-role.json: the lifecycle hook ECS invokes",
        "Value": {"Fn::GetAtt": [to_cfn_resource_name("judge_traffic_step"), "Arn"]},
    }
    from chalice.package import TemplateDeepMerger

    resources["Resources"] = TemplateDeepMerger().merge(function_check_notes(project_dir), resources["Resources"])
    resources["Resources"] = TemplateDeepMerger().merge(hook_properties, resources["Resources"])
    return merge_template(resources, ASL_PATH.read_text())


def sam_template(project_dir: Path = ROOT, stage: str = PACKAGED_STAGE) -> dict[str, Any]:
    """What `chalice package --stage prod --merge-template ...` writes as sam.json, built without the zip.

    The same Chalice steps, in the same order, except the one that pip-installs and zips the code: each
    function's CodeUri is the zip's name, as `chalice package` leaves it."""
    from chalice import package
    from chalice.cli.factory import CLIFactory
    from chalice.deploy import deployer, models
    from chalice.deploy.appgraph import ApplicationGraphBuilder, DependencyBuilder
    from chalice.utils import OSUtils

    class NamedZip(deployer.BaseDeployStep):
        def handle_deploymentpackage(self, config: Any, resource: Any) -> None:
            if isinstance(resource.filename, models.Placeholder):
                resource.filename = CODE_URI

    # Chalice asks a botocore client for the region's service principals; `make package` defaults it alike.
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
    factory = CLIFactory(project_dir=str(project_dir))
    config = factory.create_config_obj(stage)
    osutils = OSUtils()
    build = deployer.BuildStage(
        steps=[
            deployer.InjectDefaults(),
            NamedZip(),
            deployer.PolicyGenerator(
                policy_gen=deployer.AppPolicyGenerator(osutils=osutils),  # type: ignore[attr-defined]
                osutils=osutils,
            ),
            deployer.SwaggerBuilder(swagger_generator=package.CFNSwaggerGenerator()),  # type: ignore[attr-defined]
            deployer.LambdaEventSourcePolicyInjector(),
            deployer.WebsocketPolicyInjector(),
        ]
    )
    resources = package.ResourceBuilder(ApplicationGraphBuilder(), DependencyBuilder(), build).construct_resources(
        config, stage
    )
    template: dict[str, Any] = package.SAMTemplateGenerator(config, factory.create_package_options()).generate(
        resources
    )
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = CODE_URI
    merged: dict[str, Any] = package.TemplateDeepMerger().merge(project_merge_template(project_dir), template)
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(project_merge_template(), indent=2) + "\n")


if __name__ == "__main__":
    main()
