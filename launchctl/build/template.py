"""The deployable SAM template: Chalice's Lambdas and API merged with deploy/resources.json and the ASL.

`make package` writes it with `chalice package` (and the code's zip); `sam_template()` builds the same
template in-process without the zip, for the local stack, which deploys it."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
from pathlib import Path
from typing import Any

from chalicelib.profiles import EnvironmentProfile
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


# A profile field in a policy's resource, `{frontend.site_bucket}` (a `${...}` is CloudFormation's).
_TARGET = re.compile(r"(?<!\$)\{([a-z_]+(?:\.[a-z_]+)*)\}")


def packaged_profiles(project_dir: Path = ROOT) -> list[EnvironmentProfile]:
    """The environments the package serves: the example profiles, without the local stack's."""
    from launchctl.examples import example_profiles

    return [profile for profile in example_profiles() if profile.name != "local"]


def _field(profile: EnvironmentProfile, path: str) -> list[str]:
    """A profile field's values ([] where the profile has none, as a profile without migrations)."""
    value: Any = profile
    for part in path.split("."):
        value = getattr(value, part, None)
        if value is None:
            return []
    values = [str(item) for item in value] if isinstance(value, list) else [str(value)]
    # An ARN a profile gives is in the partition the stack is deployed to, whichever the profile wrote.
    return [re.sub(r"^arn:[\w-]+:", "arn:${AWS::Partition}:", item) for item in values]


def targets(resource: str, profiles: list[EnvironmentProfile]) -> list[str]:
    """A policy resource naming profile fields, once for each value each profile gives them."""
    fields = sorted(set(_TARGET.findall(resource)))
    if not fields:
        return [resource]
    named: set[str] = set()
    for profile in profiles:
        for values in itertools.product(*(_field(profile, path) for path in fields)):
            chosen = dict(zip(fields, values, strict=True))
            named.add(_TARGET.sub(lambda match, chosen=chosen: chosen[match.group(1)], resource))
    return sorted(named)


def scoped(document: dict[str, Any], profiles: list[EnvironmentProfile]) -> dict[str, Any]:
    """A policy with its profile fields named: the target resources of every environment the package
    serves. A statement whose resources no profile names (no environment migrates, say) is left out."""
    statements = []
    for statement in document["Statement"]:
        listed = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        resources = [named for resource in listed for named in targets(resource, profiles)]
        if resources:
            statements.append(statement | {"Resource": resources[0] if len(resources) == 1 else resources})
    return document | {"Statement": statements}


def role_policies(project_dir: Path = ROOT, profiles: list[EnvironmentProfile] | None = None) -> dict[str, Any]:
    """Each function's role with its policy file as CloudFormation reads it: the profiles' target resources
    named (`profiles`, default the packaged ones), and each `${NamePrefix}` or `${AWS::Partition}` an
    Fn::Sub (Chalice copies a policy file verbatim; the merge replaces its copy)."""
    from chalice.utils import to_cfn_resource_name

    profiles = packaged_profiles(project_dir) if profiles is None else profiles

    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    files = {"api_handler": config["iam_policy_file"]} | {
        name: function["iam_policy_file"]
        for name, function in config.get("lambda_functions", {}).items()
        if "iam_policy_file" in function
    }
    roles: dict[str, Any] = {}
    for function, policy_file in sorted(files.items()):
        role = f"{to_cfn_resource_name(function)}Role"
        document = scoped(json.loads((project_dir / ".chalice" / policy_file).read_text()), profiles)
        roles[role] = {
            "Properties": {"Policies": [{"PolicyName": f"{role}Policy", "PolicyDocument": _substituted(document)}]}
        }
    return roles


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
        notes[function] = _not_applying(FUNCTION_CHECKS_NOT_APPLYING | STAGE_FUNCTION_CHECKS_NOT_APPLYING)
        notes[f"{function}LogGroup"] = _not_applying(LOG_GROUP_CHECKS_NOT_APPLYING)
    return notes


def project_merge_template(
    project_dir: Path = ROOT, profiles: list[EnvironmentProfile] | None = None
) -> dict[str, Any]:
    resources = json.loads((project_dir / "deploy" / "resources.json").read_text())
    resources["Resources"] |= role_policies(project_dir, profiles)
    from chalice.package import TemplateDeepMerger

    resources["Resources"] = TemplateDeepMerger().merge(function_check_notes(project_dir), resources["Resources"])
    return merge_template(resources, ASL_PATH.read_text())


def sam_template(
    project_dir: Path = ROOT, stage: str = PACKAGED_STAGE, profiles: list[EnvironmentProfile] | None = None
) -> dict[str, Any]:
    """What `chalice package --stage prod --merge-template ...` writes as sam.json, built without the zip.

    The same Chalice steps, in the same order, except the one that pip-installs and zips the code: each
    function's CodeUri is the zip's name, as `chalice package` leaves it. `profiles`: the environments whose
    resources the policies name (default: the packaged profiles)."""
    from chalice import package
    from chalice.cli.factory import CLIFactory
    from chalice.deploy import deployer, models
    from chalice.deploy.appgraph import ApplicationGraphBuilder, DependencyBuilder
    from chalice.utils import OSUtils

    class NamedZip(deployer.BaseDeployStep):  # type: ignore[misc]
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
            deployer.PolicyGenerator(policy_gen=deployer.AppPolicyGenerator(osutils=osutils), osutils=osutils),
            deployer.SwaggerBuilder(swagger_generator=package.CFNSwaggerGenerator()),
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
    merged: dict[str, Any] = package.TemplateDeepMerger().merge(project_merge_template(project_dir, profiles), template)
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(project_merge_template(), indent=2) + "\n")


if __name__ == "__main__":
    main()
