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


def role_policies(project_dir: Path = ROOT) -> dict[str, Any]:
    """Each function's role with its policy file as CloudFormation reads it: Chalice copies a policy file
    verbatim, so a `${NamePrefix}` or `${AWS::Partition}` in it becomes an Fn::Sub here (the merge
    replaces Chalice's copy)."""
    from chalice.utils import to_cfn_resource_name

    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    files = {"api_handler": config["iam_policy_file"]} | {
        name: function["iam_policy_file"]
        for name, function in config.get("lambda_functions", {}).items()
        if "iam_policy_file" in function
    }
    roles: dict[str, Any] = {}
    for function, policy_file in sorted(files.items()):
        role = f"{to_cfn_resource_name(function)}Role"
        document = json.loads((project_dir / ".chalice" / policy_file).read_text())
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


def project_merge_template(project_dir: Path = ROOT) -> dict[str, Any]:
    resources = json.loads((project_dir / "deploy" / "resources.json").read_text())
    resources["Resources"] |= role_policies(project_dir)
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
