"""Deploys the packaged SAM template into the emulated account, as `sam deploy` would into AWS.

The template is translated by AWS's own SAM translator and created as a CloudFormation stack by moto's
CloudFormation. What moto's CloudFormation cannot create is made here from the template's own properties
(LOCALLY_MADE), and what it leaves out of a resource it does create is applied after the stack
(APPLIED_AFTER), so a property missing from the template is missing locally too."""

from __future__ import annotations

import copy
import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from localaws.aws_limits import refuse_logging_without_account_role

STACK_NAME = "launch-controller"
# The API's Lambda function as Chalice names it (and its policy file); its handler is `app.app`.
API_FUNCTION = "api_handler"
ARTIFACT_BUCKET = "launch-controller-artifacts"
ARTIFACT_KEY = "deployment.zip"
TEMPLATE_KEY = "template.json"

# Resource types moto's CloudFormation cannot create, and what the local stack does instead.
LOCALLY_MADE = {
    "AWS::SecretsManager::Secret": "created from its Name, Description and GenerateSecretString before the stack",
    "AWS::ApiGateway::RestApi": "served by Chalice's local server; the API function runs the requests",
    "AWS::ApiGateway::Deployment": "served by Chalice's local server",
    "AWS::ApiGateway::Stage": "its StageName is the local API's path prefix",
    "AWS::Lambda::Permission": "a service's right to invoke a function (API Gateway's, EventBridge's): the local "
    "server and the local EventBridge call the functions directly",
}
# Made locally after the stack, from properties CloudFormation resolved (through outputs): moto's
# CloudFormation puts a state machine where the interpreter that executes the ASL never looks, and reads
# only its DefinitionString and role.
MADE_AFTER = {
    "AWS::StepFunctions::StateMachine": "created after the stack from its Definition with DefinitionSubstitutions, "
    "RoleArn, StateMachineType, LoggingConfiguration and TracingConfiguration",
    "AWS::Events::EventBusPolicy": "put on its bus with PutPermission from its Statement, when its Condition holds",
    "AWS::CloudWatch::Alarm": "put with PutMetricAlarm from its properties (the same names as the API's), each "
    "intrinsic in them resolved by CloudFormation through an output",
}
# Properties of created resources that moto's CloudFormation drops, applied through the service's API.
APPLIED_AFTER = {
    "AWS::DynamoDB::Table": "TimeToLiveSpecification, PointInTimeRecoverySpecification",
}
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


@dataclass(frozen=True)
class DeployedFunction:
    """One Lambda function as the stack created it."""

    logical_id: str
    name: str  # Chalice's name for it (its policy file's): the handler's attribute, `api_handler` for the API
    handler: str  # what Lambda calls, module and attribute: `app.app` for the API, a Blueprint's function else
    function_name: str
    arn: str
    role_arn: str
    timeout: int
    environment: dict[str, str]


@dataclass
class Deployment:
    """The stack's outputs, functions and the API's stage, as the account has them after the deploy."""

    outputs: dict[str, str]
    functions: dict[str, DeployedFunction]  # by Chalice's name
    resources: dict[str, str] = field(default_factory=dict)  # logical id -> physical id


def translate(sam: dict[str, Any], region: str) -> dict[str, Any]:
    """The SAM template as CloudFormation sees it after the AWS::Serverless transform, code in S3."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = copy.deepcopy(sam)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            # What `sam deploy` / `aws cloudformation package` do: upload the zip, point the function at it.
            resource["Properties"]["CodeUri"] = f"s3://{ARTIFACT_BUCKET}/{ARTIFACT_KEY}"
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    translated: dict[str, Any] = translator.translate(template, parameter_values={}, get_managed_policy_map=lambda: {})
    return translated


def api_stage(template: dict[str, Any]) -> str:
    """The API Gateway stage the template deploys the API to: the path prefix of every route."""
    stages = [r for r in template["Resources"].values() if r["Type"] == "AWS::ApiGateway::Stage"]
    if len(stages) != 1:
        raise ValueError(f"the template has {len(stages)} API stages; the local stack serves exactly one")
    return str(stages[0]["Properties"]["StageName"])


def served_stage(sam: dict[str, Any]) -> str:
    """The stage the SAM template deploys its API to (Chalice's `api_gateway_stage`)."""
    apis = [r for r in sam["Resources"].values() if r["Type"] == "AWS::Serverless::Api"]
    if len(apis) != 1:
        raise ValueError(f"the template has {len(apis)} APIs; the local stack serves exactly one")
    return str(apis[0]["Properties"]["StageName"])


def deploy(
    client: Callable[[str], Any],
    sam: dict[str, Any],
    parameters: dict[str, str],
    region: str,
) -> Deployment:
    """Create the stack from the SAM template in the emulated account; what it made."""
    template = translate(sam, region)
    stage = api_stage(template)
    if stage != served_stage(sam):
        raise ValueError(f"the translated API stage {stage!r} is not the template's {served_stage(sam)!r}")
    account = client("sts").get_caller_identity()["Account"]
    before = _take(template, LOCALLY_MADE)
    after = _take(template, MADE_AFTER)
    # What CloudFormation gets instead of a locally made resource: a parameter with its physical id, so
    # every Ref to it still resolves.
    known = {
        **{name: str(spec["Default"]) for name, spec in template.get("Parameters", {}).items() if "Default" in spec},
        **parameters,
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::Partition": "aws",
        "AWS::StackName": STACK_NAME,
    }
    for resource in before.values():
        if resource["Type"] == "AWS::ApiGateway::Stage":
            # What API Gateway answers CloudFormation for a stage that logs, in an account without its role.
            refuse_logging_without_account_role(account, region, resource.get("Properties", {}))
    conditions = template.get("Conditions", {})
    made = {
        key: _make_before(client, key, resource, known)
        for key, resource in before.items()
        if "Condition" not in resource or _holds(conditions[resource["Condition"]], known)
    }
    policies = {key: after.pop(key) for key in list(after) if after[key]["Type"] == "AWS::Events::EventBusPolicy"}
    alarms = {key: after.pop(key) for key in list(after) if after[key]["Type"] == "AWS::CloudWatch::Alarm"}
    # A state machine's Ref (its ARN) is known before it exists: it follows from its name.
    names = {key: _with_parameters(r["Properties"].get("StateMachineName", key), known) for key, r in after.items()}
    made |= {key: f"arn:aws:states:{region}:{account}:stateMachine:{name}" for key, name in names.items()}
    template.setdefault("Parameters", {}).update({key: {"Type": "String"} for key in made})
    wanted = _outputs_resolving(template, after)
    alarm_properties = {key: _through_outputs(template, key, a["Properties"], wanted) for key, a in alarms.items()}
    _upload_code(client("s3"))
    cloudformation = client("cloudformation")
    # Past 51,200 bytes CloudFormation takes a template from S3 only, as `make deploy` gives it.
    client("s3").put_object(Bucket=ARTIFACT_BUCKET, Key=TEMPLATE_KEY, Body=json.dumps(template).encode())
    cloudformation.create_stack(
        StackName=STACK_NAME,
        TemplateURL=f"https://{ARTIFACT_BUCKET}.s3.{region}.amazonaws.com/{TEMPLATE_KEY}",
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in {**parameters, **made}.items()],
        Capabilities=CAPABILITIES,
    )
    cloudformation.get_waiter("stack_create_complete").wait(
        StackName=STACK_NAME, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    stack = cloudformation.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    resolved = {key: outputs.pop(key) for key in wanted}
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=STACK_NAME)
        for r in page["StackResourceSummaries"]
        if r["LogicalResourceId"]  # moto lists a resource its condition left out without a name
    }
    for key, resource in after.items():
        _make_machine(client("stepfunctions"), names[key], key, resource, resolved)
    for key, resource in policies.items():
        statement = _put_bus_policy(client("events"), resource, template.get("Conditions", {}), known)
        if statement is not None:
            physical[key] = statement
    for key, properties in alarm_properties.items():
        client("cloudwatch").put_metric_alarm(**_resolved(properties, resolved))
        physical[key] = _resolved(properties["AlarmName"], resolved)
    _apply_after(client, template, physical)
    functions = _functions(client("lambda"), template, physical)
    return Deployment(outputs=outputs, functions=functions, resources={**physical, **made})


def _take(template: dict[str, Any], types: dict[str, str]) -> dict[str, dict[str, Any]]:
    taken = {key: r for key, r in template["Resources"].items() if r["Type"] in types}
    for key in taken:
        del template["Resources"][key]
    return taken


def _with_parameters(value: Any, known: dict[str, str]) -> Any:
    """A resource made before the stack may name parameters only (Ref, Fn::Sub); nothing else resolves."""
    if isinstance(value, list):
        return [_with_parameters(item, known) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return known[value["Ref"]]
    if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return re.sub(r"\$\{([\w:]+)\}", lambda match: known[match.group(1)], value["Fn::Sub"])
    if any(key.startswith("Fn::") for key in value):
        raise ValueError(f"a resource made before the stack cannot use {sorted(value)}")
    return {key: _with_parameters(item, known) for key, item in value.items()}


def _make_before(client: Callable[[str], Any], key: str, resource: dict[str, Any], known: dict[str, str]) -> str:
    if resource["Type"] == "AWS::SecretsManager::Secret":
        properties = _with_parameters(resource.get("Properties", {}), known)
        secrets = client("secretsmanager")
        generate = properties.get("GenerateSecretString", {})
        value = secrets.get_random_password(
            PasswordLength=generate.get("PasswordLength", 32),
            ExcludePunctuation=generate.get("ExcludePunctuation", False),
        )["RandomPassword"]
        arn: str = secrets.create_secret(
            Name=properties.get("Name", key), Description=properties.get("Description", ""), SecretString=value
        )["ARN"]
        return arn  # a secret's Ref is its ARN
    return f"local-{key}"  # API Gateway's parts: the local server stands in for them


def _outputs_resolving(template: dict[str, Any], after: dict[str, dict[str, Any]]) -> list[str]:
    """Outputs through which CloudFormation resolves the references in the properties of what is made after
    the stack: each definition substitution, the role, the log groups."""
    outputs = template.setdefault("Outputs", {})
    names = []
    for key, resource in after.items():
        properties = resource["Properties"]
        values = {"RoleArn": properties["RoleArn"]}
        values |= {f"Sub{name}": value for name, value in properties.get("DefinitionSubstitutions", {}).items()}
        destinations = properties.get("LoggingConfiguration", {}).get("Destinations", [])
        values |= {f"Log{i}": d["CloudWatchLogsLogGroup"]["LogGroupArn"] for i, d in enumerate(destinations)}
        for name, value in values.items():
            outputs[f"Local{key}{name}"] = {"Value": value}
            names.append(f"Local{key}{name}")
    return names


def _through_outputs(template: dict[str, Any], key: str, value: Any, wanted: list[str]) -> Any:
    """`value` with each intrinsic (Ref, Fn::*) replaced by the output CloudFormation resolves it through."""
    if isinstance(value, list):
        return [_through_outputs(template, key, item, wanted) for item in value]
    if not isinstance(value, dict):
        return value
    if any(name == "Ref" or name.startswith("Fn::") for name in value):
        output = f"Local{key}{len(wanted)}"
        template.setdefault("Outputs", {})[output] = {"Value": value}
        wanted.append(output)
        return {"LocalOutput": output}
    return {name: _through_outputs(template, key, item, wanted) for name, item in value.items()}


def _resolved(value: Any, resolved: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [_resolved(item, resolved) for item in value]
    if isinstance(value, dict):
        if set(value) == {"LocalOutput"}:
            return resolved[value["LocalOutput"]]
        return {name: _resolved(item, resolved) for name, item in value.items()}
    return value


def _make_machine(sfn: Any, name: str, key: str, resource: dict[str, Any], resolved: dict[str, str]) -> None:
    properties = resource["Properties"]
    logging = properties.get("LoggingConfiguration", {})
    substitutions = {name: resolved[f"Local{key}Sub{name}"] for name in properties.get("DefinitionSubstitutions", {})}
    # Step Functions replaces each ${name} that DefinitionSubstitutions names, and nothing else.
    definition = re.sub(
        r"\$\{(\w+)\}",
        lambda match: substitutions.get(match.group(1), match.group(0)),
        json.dumps(properties["Definition"]),
    )
    sfn.create_state_machine(
        name=name,
        definition=definition,
        roleArn=resolved[f"Local{key}RoleArn"],
        type=properties.get("StateMachineType", "STANDARD"),
        loggingConfiguration={
            "level": logging.get("Level", "OFF"),
            "includeExecutionData": logging.get("IncludeExecutionData", False),
            "destinations": [
                {"cloudWatchLogsLogGroup": {"logGroupArn": resolved[f"Local{key}Log{i}"]}}
                for i in range(len(logging.get("Destinations", [])))
            ],
        },
        tracingConfiguration={"enabled": bool(properties.get("TracingConfiguration", {}).get("Enabled", False))},
    )


def _put_bus_policy(
    events: Any, resource: dict[str, Any], conditions: dict[str, Any], known: dict[str, str]
) -> str | None:
    """An EventBusPolicy as CloudFormation puts it: its Statement under its StatementId, on its bus."""
    condition = resource.get("Condition")
    if condition and not _holds(conditions[condition], known):
        return None
    properties = _with_parameters(resource["Properties"], known)
    statement = dict(properties["Statement"])
    principal = statement.get("Principal", {})
    if isinstance(principal, dict) and isinstance(principal.get("AWS"), str):
        # A CommaDelimitedList parameter arrives here joined: one principal per account, as CloudFormation makes it.
        principal["AWS"] = principal["AWS"].split(",")
    policy = {"Version": "2012-10-17", "Statement": [{"Sid": properties["StatementId"], **statement}]}
    events.put_permission(EventBusName=properties.get("EventBusName", "default"), Policy=json.dumps(policy))
    return str(properties["StatementId"])


def _holds(condition: Any, known: dict[str, str]) -> bool:
    """The condition functions the template's conditions use (Not, Equals, Join, Split and Select over a Ref)."""

    def value(node: Any) -> Any:
        if isinstance(node, list):
            return [value(item) for item in node]
        if isinstance(node, dict) and "Fn::Split" in node:
            separator, text = node["Fn::Split"]
            return str(value(text)).split(separator)
        if isinstance(node, dict) and "Fn::Select" in node:
            index, items = node["Fn::Select"]
            return value(items)[int(index)]
        if isinstance(node, dict) and "Fn::Not" in node:
            return not value(node["Fn::Not"][0])
        if isinstance(node, dict) and "Fn::Equals" in node:
            left, right = node["Fn::Equals"]
            return value(left) == value(right)
        if isinstance(node, dict) and "Fn::Join" in node:
            separator, items = node["Fn::Join"]
            joined = value(items)
            return separator.join(joined.split(",")) if isinstance(joined, str) else separator.join(joined)
        if isinstance(node, dict) and "Ref" in node:
            return known.get(node["Ref"], "")
        return node

    return bool(value(condition))


def _apply_after(client: Callable[[str], Any], template: dict[str, Any], physical: dict[str, str]) -> None:
    for key, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::DynamoDB::Table":
            dynamodb = client("dynamodb")
            ttl = properties.get("TimeToLiveSpecification")
            if ttl:
                dynamodb.update_time_to_live(TableName=physical[key], TimeToLiveSpecification=ttl)
            recovery = properties.get("PointInTimeRecoverySpecification")
            if recovery:
                dynamodb.update_continuous_backups(TableName=physical[key], PointInTimeRecoverySpecification=recovery)


def _upload_code(s3: Any) -> None:
    """The artifact the functions' CodeUri names. Locally the functions run from the working tree in this
    process, so the zip holds only a note saying so."""
    s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("README", "the local stack runs the functions from the working tree, in process\n")
    s3.put_object(Bucket=ARTIFACT_BUCKET, Key=ARTIFACT_KEY, Body=archive.getvalue())


def _functions(lambda_: Any, template: dict[str, Any], physical: dict[str, str]) -> dict[str, DeployedFunction]:
    functions: dict[str, DeployedFunction] = {}
    for key, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        configuration = lambda_.get_function_configuration(FunctionName=physical[key])
        handler = configuration["Handler"]
        name = API_FUNCTION if handler == "app.app" else handler.rpartition(".")[2]
        functions[name] = DeployedFunction(
            logical_id=key,
            name=name,
            handler=handler,
            function_name=configuration["FunctionName"],
            arn=configuration["FunctionArn"],
            role_arn=configuration["Role"],
            timeout=configuration["Timeout"],
            environment=dict(configuration.get("Environment", {}).get("Variables", {})),
        )
    return functions
