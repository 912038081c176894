"""The names a template gives its resources, within what each service allows, at the longest values its
parameters admit (a name past the limit fails the stack on AWS, not on moto)."""

from __future__ import annotations

from typing import Any

from launchctl.build.iam_quotas import worst_case

# (resource type, the property naming it): the longest name the service takes.
NAME_LIMITS: dict[tuple[str, str], int] = {
    ("AWS::S3::Bucket", "BucketName"): 63,
    ("AWS::Events::Rule", "Name"): 64,
    ("AWS::Events::EventBus", "Name"): 256,
    ("AWS::IAM::Role", "RoleName"): 64,
    ("AWS::IAM::Role", "Path"): 512,
    ("AWS::IAM::ManagedPolicy", "ManagedPolicyName"): 128,
    ("AWS::SNS::Topic", "TopicName"): 256,
    ("AWS::DynamoDB::Table", "TableName"): 255,
    ("AWS::StepFunctions::StateMachine", "StateMachineName"): 80,
    ("AWS::Logs::LogGroup", "LogGroupName"): 512,
    ("AWS::SecretsManager::Secret", "Name"): 512,
    ("AWS::CloudWatch::Alarm", "AlarmName"): 255,
    ("AWS::CloudWatch::Dashboard", "DashboardName"): 255,
    ("AWS::KMS::Alias", "AliasName"): 256,
    ("AWS::Lambda::Function", "FunctionName"): 64,
    ("AWS::Serverless::Function", "FunctionName"): 64,
}


def name_problems(template: dict[str, Any], lists: dict[str, list[str]] | None = None) -> list[str]:
    """Every name of `template` past its service's limit at the longest values the parameters admit."""
    parameters = template.get("Parameters", {})
    problems = []
    for key, resource in template.get("Resources", {}).items():
        for (kind, field), limit in NAME_LIMITS.items():
            named = resource.get("Properties", {}).get(field) if resource.get("Type") == kind else None
            if named is None:
                continue
            longest = worst_case(named, parameters, lists)
            if isinstance(longest, str) and len(longest) > limit:
                problems.append(f"{key}: {field} reaches {len(longest)} characters, past {limit}")
    return problems
