"""Deploys the packaged template (`make package`) to the account of the caller's AWS credentials.

The code's zip and the template go to a deploy bucket of the account's own (made private, encrypted and
versioned the first time); CloudFormation gets a change set, which is shown, then executed, and the
stack's outputs and what is left to do by hand are printed. `make deploy` runs it; never the tests."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# IAM roles without fixed names, and the SAM transform.
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")

Say = Callable[[str], None]


def deploy_bucket(stack: str, account: str, region: str) -> str:
    """The bucket the stack's code and template are uploaded to: one per stack, account and region."""
    return f"{stack}-deploy-{account}-{region}".lower()[:63].rstrip("-")


def ensure_bucket(s3: Any, bucket: str, region: str) -> bool:
    """Make the deploy bucket, private, encrypted and versioned, unless it exists; whether it was made."""
    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] not in {"404", "NoSuchBucket", "NotFound"}:
            raise
    where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **where)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return True


def upload_once(s3: Any, bucket: str, key: str, body: bytes) -> bool:
    """Put `body` at `key` unless it is there (keys name their content's hash); whether it was put."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return False
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] not in {"404", "NoSuchKey", "NotFound"}:
            raise
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return True


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:20]


def with_code_at(template: dict[str, Any], bucket: str, key: str) -> dict[str, Any]:
    """The template with every function's code at s3://bucket/key (what `cloudformation package` does)."""
    resources = {
        name: resource
        | (
            {"Properties": resource["Properties"] | {"CodeUri": {"Bucket": bucket, "Key": key}}}
            if resource["Type"] == "AWS::Serverless::Function"
            else {}
        )
        for name, resource in template["Resources"].items()
    }
    return template | {"Resources": resources}


def _described(cloudformation: Any, stack: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
        return found
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" in error.response["Error"]["Message"]:
            return None
        raise


def index_steps(deployed: dict[str, Any], wanted: dict[str, Any]) -> list[dict[str, Any]]:
    """A table's properties after each update CloudFormation must make before the template's own, when the
    template adds or removes more than one global secondary index: DynamoDB creates or deletes one per
    table update. Each step keeps the deployed table but for one more index removed or added (the last
    is left to the template's update); its attribute definitions are the ones its keys use. Empty when
    one update does it."""
    have = {index["IndexName"]: index for index in deployed.get("GlobalSecondaryIndexes", [])}
    want = {index["IndexName"]: index for index in wanted.get("GlobalSecondaryIndexes", [])}
    removed = [name for name in have if name not in want]
    added = [name for name in want if name not in have]
    if len(removed) + len(added) <= 1:
        return []
    types = {
        item["AttributeName"]: item
        for item in [*deployed.get("AttributeDefinitions", []), *wanted.get("AttributeDefinitions", [])]
    }
    current = list(have.values())
    steps = []
    # Removals first, then additions; the last change is the template's own update.
    for kind, index_name in [*(("remove", name) for name in removed), *(("add", name) for name in added)][:-1]:
        if kind == "remove":
            current = [index for index in current if index["IndexName"] != index_name]
        else:
            current = [*current, want[index_name]]
        used = sorted({key["AttributeName"] for schema in [deployed, *current] for key in schema["KeySchema"]})
        steps.append(
            deployed | {"GlobalSecondaryIndexes": current, "AttributeDefinitions": [types[name] for name in used]}
        )
    return steps


def _tables(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template.get("Resources", {}).items()
        if resource.get("Type") == "AWS::DynamoDB::Table"
    }


def deploy(
    session: Any,
    package_dir: Path,
    stack: str,
    parameters: dict[str, str],
    execute: bool = True,
    say: Say = print,
) -> dict[str, str]:
    """Upload, make the change set, show it, execute it and wait; the stack's outputs."""
    region = session.region_name
    if not region:
        raise SystemExit("no region: set AWS_REGION or the profile's region")
    packaged = json.loads((package_dir / "sam.json").read_text())
    declared = packaged.get("Parameters", {})
    unknown = sorted(set(parameters) - set(declared))
    if unknown:  # before anything is made or uploaded
        raise SystemExit(f"the template has no parameter {', '.join(unknown)}; it has {', '.join(sorted(declared))}")
    refusals = account_refusals(session, stack, parameters, declared)
    if refusals:  # before anything is made or uploaded
        raise SystemExit("the account is not ready for this stack:\n" + "\n".join(f"- {r}" for r in refusals))
    account = session.client("sts").get_caller_identity()["Account"]
    s3 = session.client("s3")
    cloudformation = session.client("cloudformation")
    bucket = deploy_bucket(stack, account, region)
    if ensure_bucket(s3, bucket, region):
        say(f"made the deploy bucket s3://{bucket} (private, encrypted, versioned)")
    code = (package_dir / "deployment.zip").read_bytes()
    code_key = f"{stack}/deployment-{_digest(code)}.zip"
    say(
        f"code: s3://{bucket}/{code_key} ({'uploaded' if upload_once(s3, bucket, code_key, code) else 'already there'})"
    )
    template = with_code_at(packaged, bucket, code_key)
    body = json.dumps(template, indent=1).encode()
    template_key = f"{stack}/template-{_digest(body)}.json"
    upload_once(s3, bucket, template_key, body)

    current = _described(cloudformation, stack)
    status = current["StackStatus"] if current else None
    if status == "ROLLBACK_COMPLETE":
        raise SystemExit(f"{stack}'s first deploy failed and rolled back: delete the stack, then deploy again")
    kind = "CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE"
    given = [{"ParameterKey": key, "ParameterValue": value} for key, value in sorted(parameters.items())]
    # An update keeps what an earlier deploy set for a parameter not given now (one the stack has).
    previous = {item["ParameterKey"] for item in (current or {}).get("Parameters", [])} if kind == "UPDATE" else set()
    kept = [{"ParameterKey": key, "UsePreviousValue": True} for key in declared if key in previous - set(parameters)]
    if kind == "UPDATE":
        _indexes_one_at_a_time(cloudformation, s3, bucket, stack, template, execute, say)
    _change(
        cloudformation,
        stack,
        kind,
        f"https://{bucket}.s3.{region}.amazonaws.com/{template_key}",
        given + kept,
        execute,
        say,
    )
    if not execute:
        return {}
    found = outputs(cloudformation, stack)
    if "LaunchTableName" in found:
        fill_list_partitions(session.client("dynamodb"), found["LaunchTableName"], say)
    return found


# What Lambda keeps unreserved in every account (docs/limits.md, lambda.unreserved_concurrency).
UNRESERVED_MINIMUM = 100
API_FUNCTION = "APIHandler"  # the API's function, as the template names it


def account_refusals(session: Any, stack: str, parameters: dict[str, str], declared: dict[str, Any]) -> list[str]:
    """What the account would refuse of this stack, found before anything is made: API Gateway writes the API's
    access log only once the account's CloudWatch role is set (and refuses to make such a stage before), and
    the API's reserved concurrency must leave Lambda's 100 unreserved executions."""
    refusals = []
    if not session.client("apigateway").get_account().get("cloudwatchRoleArn"):
        refusals.append(
            "API Gateway has no CloudWatch role in this account and region, and refuses to make a stage that writes "
            "an access log without one. Once per account and region, make a role API Gateway may assume "
            "(aws iam create-role --role-name apigateway-cloudwatch --assume-role-policy-document "
            '\'{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"apigateway.amazonaws.com"},'
            '"Action":"sts:AssumeRole"}]}\'; aws iam attach-role-policy --role-name apigateway-cloudwatch --policy-arn '
            "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs), then: aws apigateway "
            "update-account --patch-operations op=replace,path=/cloudwatchRoleArn,value=<that role's ARN>"
        )
    spec = declared.get("ApiReservedConcurrency", {})
    asked = int(parameters.get("ApiReservedConcurrency", spec.get("Default", 0)))
    if asked > 0:
        lambda_ = session.client("lambda")
        limits = lambda_.get_account_settings()["AccountLimit"]
        available = int(limits["UnreservedConcurrentExecutions"]) + _reserved_now(session, stack)
        if available - asked < UNRESERVED_MINIMUM:
            refusals.append(
                f"Reserving {asked} executions for the API would leave {available - asked} of this account's "
                f"{limits['ConcurrentExecutions']} unreserved; Lambda keeps at least {UNRESERVED_MINIMUM}. Deploy with "
                "ApiReservedConcurrency=0 (no reservation: the API shares the account's pool with the stages), a "
                f"smaller one (at most {max(0, available - UNRESERVED_MINIMUM)}), or ask AWS for a higher Lambda "
                "concurrency limit (Service Quotas: Concurrent executions)"
            )
    return refusals


def _reserved_now(session: Any, stack: str) -> int:
    """What the stack's API function reserves already (an update gives it back before it takes it again)."""
    cloudformation = session.client("cloudformation")
    try:
        function = cloudformation.describe_stack_resource(StackName=stack, LogicalResourceId=API_FUNCTION)[
            "StackResourceDetail"
        ]["PhysicalResourceId"]
    except cloudformation.exceptions.ClientError:
        return 0  # no stack yet, or no API function in it
    reserved = session.client("lambda").get_function_concurrency(FunctionName=function)
    return int(reserved.get("ReservedConcurrentExecutions") or 0)


def fill_list_partitions(dynamodb: Any, table: str, say: Say) -> None:
    """Launches written before the list's indexes get the partition the environment-and-status filter
    reads (a query of the launch index and a conditional update each; nothing when there are none)."""
    from chalicelib.store import LaunchStore

    filled = LaunchStore(dynamodb, table).fill_list_partitions()
    if filled:
        say(f"{table}: {filled} earlier launches listed by environment and status")


def _indexes_one_at_a_time(
    cloudformation: Any,
    s3: Any,
    bucket: str,
    stack: str,
    template: dict[str, Any],
    execute: bool,
    say: Say,
) -> None:
    """Before the template's update: the stack as deployed, with its tables' indexes changed one per
    update, where the template changes more than one (the code already deployed keeps running meanwhile)."""
    body = cloudformation.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]
    deployed = json.loads(body) if isinstance(body, str) else body
    wanted = _tables(template)
    for table, properties in _tables(deployed).items():
        steps = index_steps(properties, wanted.get(table, properties))
        for number, step in enumerate(steps, 1):
            say(f"{table}: index update {number} of {len(steps) + 1} (DynamoDB changes one index per update)")
            if not execute:
                continue
            deployed["Resources"][table]["Properties"] = step
            encoded = json.dumps(deployed, indent=1).encode()
            key = f"{stack}/template-{_digest(encoded)}.json"
            upload_once(s3, bucket, key, encoded)
            region = cloudformation.meta.region_name
            previous = [{"ParameterKey": name, "UsePreviousValue": True} for name in deployed.get("Parameters", {})]
            url = f"https://{bucket}.s3.{region}.amazonaws.com/{key}"
            _change(cloudformation, stack, "UPDATE", url, previous, execute, say)


def _change(
    cloudformation: Any, stack: str, kind: str, url: str, parameters: list[dict[str, Any]], execute: bool, say: Say
) -> bool:
    """Make a change set from the template at `url`, show it, and (when `execute`) execute it and wait;
    False when there is nothing to change or it was only shown."""
    name = f"deploy-{datetime.now(UTC):%Y%m%d-%H%M%S-%f}"
    cloudformation.create_change_set(
        StackName=stack,
        ChangeSetName=name,
        ChangeSetType=kind,
        TemplateURL=url,
        Parameters=parameters,
        Capabilities=CAPABILITIES,
        Description="make deploy",
    )
    from botocore.exceptions import WaiterError

    try:
        cloudformation.get_waiter("change_set_create_complete").wait(
            StackName=stack, ChangeSetName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 120}
        )
    except WaiterError:
        described = cloudformation.describe_change_set(StackName=stack, ChangeSetName=name)
        reason = described.get("StatusReason", "")
        if any(marker in reason for marker in _NO_CHANGES):
            say(f"{stack} is up to date: nothing to change")
            cloudformation.delete_change_set(StackName=stack, ChangeSetName=name)
            return False
        raise SystemExit(f"change set {name} failed: {reason}") from None
    described = cloudformation.describe_change_set(StackName=stack, ChangeSetName=name)
    say(f"change set {name} ({kind.lower()} {stack}):")
    for change in described.get("Changes", []):
        resource = change["ResourceChange"]
        replacement = " (replaced)" if resource.get("Replacement") == "True" else ""
        say(f"  {resource['Action']:<7} {resource['LogicalResourceId']} {resource['ResourceType']}{replacement}")
    if not execute:
        say(f"not executed: review it in the console, or run again without --no-execute ({name})")
        return False
    cloudformation.execute_change_set(StackName=stack, ChangeSetName=name)
    waiter = "stack_create_complete" if kind == "CREATE" else "stack_update_complete"
    cloudformation.get_waiter(waiter).wait(StackName=stack, WaiterConfig={"Delay": 15, "MaxAttempts": 240})
    return True


def outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}


def next_steps(found: dict[str, str]) -> list[str]:
    """What is left to do by hand after a deploy, with this stack's values."""
    api = found.get("EndpointURL", "<EndpointURL>").rstrip("/")
    topic = found.get("ApprovalsTopicArn", "<ApprovalsTopicArn>")
    trust = found.get("EnvironmentRoleTrust", "<EnvironmentRoleTrust>")
    prefix = found.get("NamePrefix", "launch-controller")
    steps = ["If AlertEmail was given: open the confirmation AWS emailed to it."]
    if "ApiDomainTarget" in found:
        steps.append(
            f"Point the API's domain at {found['ApiDomainTarget']}: a CNAME, or a Route 53 alias in the zone "
            f"{found.get('ApiDomainZone', '<ApiDomainZone>')}."
        )
    steps += [
        "For each environment, with credentials of its own account: make the role the controller acts as there "
        "(PROFILE is the environment's profile file): aws cloudformation deploy --template-file "
        f"deploy/target-account-role.json --stack-name {prefix}-<environment> --capabilities CAPABILITY_NAMED_IAM "
        f"--parameter-overrides ControllerRoleArns={trust} ControllerNamePrefix={prefix} "
        "$(launchctl profile role-parameters PROFILE); its output RoleArn is the profile's target.role_arn.",
        "For each environment, in its account: store the smoke user's token under the profile's "
        'smoke.credential_secret_id: aws secretsmanager create-secret --name <id> --secret-string \'{"token": "..."}\'',
        f"For each environment: push its profile, which subscribes its approvers: launchctl profile push --env "
        f"<environment> --topic {topic} PROFILE; each approver confirms from AWS's email "
        "(launchctl approvers confirm --topic ... --link ...).",
    ]
    steps.append(
        f"Point the CLI and the GitHub action at {api} (LAUNCHCTL_API_URL), or at the custom domain's URL "
        "given as PublicApiUrl; then: launchctl preflight --env staging, and a first launch into staging."
    )
    return steps


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("package_dir", type=Path, help="what `make package` wrote (sam.json, deployment.zip)")
    parser.add_argument("--stack", default="launch-controller")
    parser.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--no-execute", action="store_true", help="make and show the change set only")
    args = parser.parse_args(argv)
    parameters = dict(item.split("=", 1) for item in args.parameter if "=" in item)
    if len(parameters) != len(args.parameter):
        parser.error("each --parameter is KEY=VALUE")
    found = deploy(boto3.session.Session(), args.package_dir, args.stack, parameters, not args.no_execute)
    for key, value in sorted(found.items()):
        print(f"{key}: {value}")
    if found:
        print("\nWhat is left to do by hand:")
        for number, step in enumerate(next_steps(found), 1):
            print(f"{number}. {step}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
