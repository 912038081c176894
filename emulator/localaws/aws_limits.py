"""What AWS refuses and moto 5.2.5 lets through, refused here as AWS refuses it, with AWS's error.

Each rule is a row of `LIMITS` (what is refused, AWS's error, where AWS documents it, who enforces it
locally); `apply()` makes moto in this process enforce every row the local stack plays. docs/limits.md is
this table (`python -m localaws.aws_limits docs/limits.md` writes it; a test compares), and
tests/unit/localaws/test_aws_limits.py holds one test per row that goes past the limit and meets the error."""

from __future__ import annotations

import functools
import inspect
import json
import math
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from launchctl.build.iam_quotas import policy_size

IAM_QUOTAS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"


@dataclass(frozen=True)
class Limit:
    """One thing AWS refuses: what, AWS's answer, its source, and what refuses it locally."""

    key: str
    rule: str
    error: str
    source: str
    enforced_by: str = "the local stack (emulator/localaws/aws_limits.py)"


LIMITS: tuple[Limit, ...] = (
    Limit(
        "iam.role.attached_policies",
        "At most 10 managed policies attached to one role (IAM's default quota)",
        "LimitExceeded: Cannot exceed quota for PoliciesPerRole: 10",
        IAM_QUOTAS,
    ),
    Limit(
        "iam.policy.size",
        "A managed policy document of at most 6,144 characters, white space not counted",
        "LimitExceeded: Cannot exceed quota for PolicySize: 6144",
        IAM_QUOTAS,
    ),
    Limit(
        "iam.role.inline_policies_size",
        "A role's inline policies of at most 10,240 characters in all, white space not counted",
        "LimitExceeded: Maximum policy size of 10240 bytes exceeded for role <name>",
        IAM_QUOTAS,
    ),
    Limit(
        "iam.role.trust_policy_size",
        "A role's trust policy of at most 2,048 characters, white space not counted",
        "LimitExceeded: Cannot exceed quota for ACLSizePerRole: 2048",
        IAM_QUOTAS,
    ),
    Limit(
        "sts.role_chaining",
        "A role assumed with another role's session (every Lambda's) lasts at most 3,600 s",
        "ValidationError: The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by "
        "role chaining.",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html#iam-term-role-chaining",
    ),
    Limit(
        "sts.max_session_duration",
        "A session lasts at most its role's MaxSessionDuration",
        "ValidationError: The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        "https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html",
    ),
    Limit(
        "wafv2.cloudfront_scope",
        "A web ACL of Scope CLOUDFRONT is reached in us-east-1 only",
        "WAFInvalidParameterException: Error reason: The scope is not valid., field: SCOPE_VALUE, parameter: "
        "CLOUDFRONT",
        "https://docs.aws.amazon.com/waf/latest/APIReference/API_GetWebACL.html",
    ),
    Limit(
        "cloudwatch.datapoints",
        "GetMetricStatistics answers at most 1,440 data points (the time range over the period)",
        "InvalidParameterCombination: You have requested up to <n> datapoints, which exceeds the limit of 1440.",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricStatistics.html",
    ),
    Limit(
        "cloudwatch.describe_alarms",
        "DescribeAlarms returns composite alarms only when AlarmTypes asks for them, and a page of MaxRecords "
        "(50 unless given, at most 100) with a NextToken",
        "(no error: a composite alarm is simply not in the answer; the rest is on the next page)",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html",
    ),
    Limit(
        "ssm.parameter_size",
        "A parameter's value: at most 4,096 characters in the standard tier, 8,192 in the advanced tier "
        "(Intelligent-Tiering picks the advanced tier above 4,096)",
        "ValidationException: Standard tier parameters support a maximum parameter value of 4096 characters. ...",
        "https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html",
    ),
    Limit(
        "ssm.tier_downgrade",
        "An advanced parameter never goes back to the standard tier",
        "ValidationException: This parameter uses the advanced-parameter tier. You can't downgrade a parameter "
        "from the advanced-parameter tier to the standard-parameter tier. ...",
        "https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html",
    ),
    Limit(
        "apigateway.logging_role",
        "A REST API stage with access logging is made only once the account's API Gateway CloudWatch role is set",
        "BadRequestException: CloudWatch Logs role ARN must be set in account settings to enable logging",
        "https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html",
    ),
    Limit(
        "apigateway.integration_timeout",
        "API Gateway waits at most 29 s for the API's function; the caller gets a 504 (the function runs on)",
        '504 {"message": "Endpoint request timed out"}',
        "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html",
        "the local API (emulator/localaws/stack.py, staged_handler)",
    ),
    Limit(
        "lambda.unreserved_concurrency",
        "Reserved concurrency may leave no fewer than 100 unreserved executions in the account "
        "(GetAccountSettings answers the account's limit)",
        "InvalidParameterValueException: Specified ReservedConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [100].",
        "https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html",
    ),
    Limit(
        "cloudformation.template_size",
        "A template of at most 51,200 bytes in the request (TemplateBody), 1 MB from S3 (TemplateURL)",
        "ValidationError: 1 validation error detected: Value '...' at 'templateBody' failed to satisfy "
        "constraint: Member must have length less than or equal to 51200",
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html",
    ),
    Limit(
        "events.rule_name",
        "An EventBridge rule's name: 1-64 of [.-_A-Za-z0-9] (a template's rule as well as PutRule's)",
        "ValidationException: 1 validation error detected: Value '...' at 'name' failed to satisfy constraint: "
        "Member must have length less than or equal to 64",
        "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html",
    ),
    Limit(
        "s3.bucket_name",
        "A bucket's name: 3-63 characters",
        "InvalidBucketName: The specified bucket is not valid.",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html",
        "moto itself",
    ),
    Limit(
        "states.executions_failed",
        "A Fail state ends its execution FAILED: it counts in AWS/States ExecutionsFailed, as an error does",
        "(a metric: ExecutionsFailed, ExecutionsSucceeded, ExecutionsAborted, ExecutionsTimedOut by StateMachineArn)",
        "https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html",
        "the local stack (emulator/localaws/emitters.py)",
    ),
    Limit(
        "states.payload_size",
        "A state's input or output of at most 256 KiB (262,144 bytes of UTF-8)",
        "States.DataLimitExceeded: the execution fails, or the state's Catch takes it",
        "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html",
        "the local Lambda bridge (emulator/localaws/bridge.py)",
    ),
    Limit(
        "rds.cluster_member_snapshot",
        "A DB instance of an Aurora cluster has no snapshot of its own (the cluster has)",
        "InvalidParameterValue: The specified instance is a member of a cluster and a snapshot cannot be created "
        "directly. Please use the CreateDBClusterSnapshot API instead.",
        "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBSnapshot.html",
    ),
    Limit(
        "dynamodb.item_size",
        "An item of at most 400 KB",
        "ValidationException: Item size has exceeded the maximum allowed size",
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html",
        "moto itself",
    ),
    Limit(
        "dynamodb.transaction_items",
        "A transaction of at most 100 items",
        "ValidationException: 1 validation error detected: ... at 'transactItems' failed to satisfy constraint: "
        "Member must have length less than or equal to 100",
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html",
        "the model check (emulator/localaws/model_constraints.py)",
    ),
    Limit(
        "kms.asymmetric_key_rotation",
        "Automatic rotation is for symmetric encryption keys only: EnableKeyRotation on an asymmetric key (the "
        "evidence key, ECC_NIST_P256), by the API or a template's `EnableKeyRotation: true`, is refused",
        "UnsupportedOperationException: <key ARN> key spec ECC_NIST_P256 is not supported for this operation.",
        "https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html",
    ),
    Limit(
        "kms.key_policy_sign",
        "A key's policy decides who may sign with it: kms:Sign is refused to a caller the key policy neither "
        "names nor delegates to IAM through the account (the evidence key names only the functions that end "
        "launches)",
        "AccessDeniedException: User: <caller> is not authorized to perform: kms:Sign on resource: <key ARN> "
        "because no resource-based policy allows the kms:Sign action",
        "https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html",
        "the local stack, with IAM enforced (emulator/localaws/moto_fixes.py)",
    ),
    Limit(
        "sns.message_size",
        "A message of at most 256 KiB",
        "InvalidParameter: Invalid parameter: Message too long",
        "https://docs.aws.amazon.com/sns/latest/api/API_Publish.html",
        "moto itself",
    ),
    Limit(
        "model.constraints",
        "Every documented min, max, pattern and enum of every call's input (AWS checks them; botocore sends "
        "what breaks them)",
        "ValidationException / ValidationError: 1 validation error detected: Value '...' at '...' failed to "
        "satisfy constraint: ...",
        "each service's API reference; botocore's service models",
        "the model check (emulator/localaws/model_constraints.py)",
    ),
)

_applied = False
_lock = threading.Lock()
# Each account's Lambda concurrency limit (GetAccountSettings' ConcurrentExecutions); AWS's default, unless a
# test makes an account smaller (new accounts may start lower).
DEFAULT_ACCOUNT_CONCURRENCY = 1000
account_concurrency: dict[str, int] = {}
# API Gateway's wait for the integration (a test may shorten it for the 504 only: nothing else reads it).
INTEGRATION_TIMEOUT_SECONDS = 29.0
STATE_PAYLOAD_BYTES = 262_144


def apply() -> None:
    """Make moto in this process refuse what AWS refuses (every row of LIMITS the local stack plays)."""
    global _applied
    with _lock:
        if _applied:
            return
        _iam_quotas()
        _role_chaining()
        _waf_cloudfront_scope()
        _metric_statistics_datapoints()
        _describe_alarms_as_aws()
        _parameter_sizes_and_tiers()
        _lambda_concurrency()
        _template_sizes()
        _rule_names()
        _cluster_members_have_no_snapshot()
        _asymmetric_keys_do_not_rotate()
        _applied = True


def _refuse_before(owner: Any, method: str, argument: str, check: Callable[[Any], None]) -> None:
    """Make moto's `owner.method` hand the argument named to `check` (which raises AWS's error) before its work."""
    original = getattr(owner, method)
    signature = inspect.signature(original)

    @functools.wraps(original)
    def checked(*args: Any, **kwargs: Any) -> Any:
        check(signature.bind(*args, **kwargs).arguments[argument])
        return original(*args, **kwargs)

    setattr(owner, method, checked)


# -- IAM --------------------------------------------------------------------------------------------------


def _iam_quotas() -> None:
    from moto.iam.exceptions import LimitExceededException
    from moto.iam.models import IAMBackend, ManagedPolicy, Role

    attach_to = ManagedPolicy.attach_to

    def attach_within_quota(self: Any, obj: Any) -> None:
        if isinstance(obj, Role) and self.arn not in obj.managed_policies and len(obj.managed_policies) >= 10:
            raise LimitExceededException("Cannot exceed quota for PoliciesPerRole: 10")
        attach_to(self, obj)

    ManagedPolicy.attach_to = attach_within_quota  # type: ignore[method-assign]

    def policy_within_quota(document: str) -> None:
        if policy_size(document) > 6144:
            raise LimitExceededException("Cannot exceed quota for PolicySize: 6144")

    _refuse_before(IAMBackend, "create_policy", "policy_document", policy_within_quota)
    _refuse_before(IAMBackend, "create_policy_version", "policy_document", policy_within_quota)

    put_policy = Role.put_policy

    def put_policy_within_quota(self: Any, policy_name: str, policy_json: Any) -> None:
        others = sum(policy_size(document) for name, document in self.policies.items() if name != policy_name)
        if others + policy_size(policy_json) > 10240:
            raise LimitExceededException(f"Maximum policy size of 10240 bytes exceeded for role {self.name}")
        put_policy(self, policy_name, policy_json)

    Role.put_policy = put_policy_within_quota  # type: ignore[method-assign]

    def trust_within_quota(document: str) -> None:
        if policy_size(document) > 2048:
            raise LimitExceededException("Cannot exceed quota for ACLSizePerRole: 2048")

    _refuse_before(IAMBackend, "create_role", "assume_role_policy_document", trust_within_quota)
    _refuse_before(IAMBackend, "update_assume_role_policy", "policy_document", trust_within_quota)


def _role_chaining() -> None:
    """STS: a session assumed from a role's session lasts at most an hour; any session at most its role's
    MaxSessionDuration. (Lambda's own sessions, made in moto's STS directly, are not a chain.)"""
    from moto.iam.models import iam_backends
    from moto.sts.exceptions import STSValidationError
    from moto.sts.models import sts_backends
    from moto.sts.responses import TokenResponse

    assume_role = TokenResponse.assume_role

    def assume_role_within_limits(self: Any) -> Any:
        duration = self._get_int_param("DurationSeconds", 3600)
        role_arn = str(self._get_param("RoleArn") or "")
        _, caller, _ = sts_backends[self.current_account][self.partition].get_caller_identity(
            self.get_access_key(), self.region
        )
        if ":assumed-role/" in caller and duration > 3600:
            raise STSValidationError(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
            )
        parts = role_arn.split(":")
        if len(parts) > 5 and parts[4] in iam_backends:
            roles = iam_backends[parts[4]][self.partition].roles.values()
            role = next((r for r in roles if r.arn == role_arn), None)
            if role is not None and duration > int(role.max_session_duration or 3600):
                raise STSValidationError(
                    "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                )
        return assume_role(self)

    TokenResponse.assume_role = assume_role_within_limits  # type: ignore[method-assign]


# -- WAF, CloudWatch ----------------------------------------------------------------------------------------


CLOUDFRONT_REGION = "us-east-1"


def _waf_cloudfront_scope() -> None:
    """moto answers a CLOUDFRONT web ACL in any region (it files them under "global")."""
    from moto.wafv2.exceptions import WAFv2ClientError
    from moto.wafv2.responses import WAFV2Response

    call_action = WAFV2Response.call_action

    def scoped(self: Any) -> Any:
        try:
            scope = json.loads(self.body or b"{}").get("Scope")
        except ValueError:
            scope = None
        if scope == "CLOUDFRONT" and self.region != CLOUDFRONT_REGION:
            error = WAFv2ClientError(
                "WAFInvalidParameterException",
                "Error reason: The scope is not valid., field: SCOPE_VALUE, parameter: CLOUDFRONT",
            )
            return error.code, {"Content-Type": "application/x-amz-json-1.1"}, error.get_body()
        return call_action(self)

    WAFV2Response.call_action = scoped  # type: ignore[method-assign]


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    from dateutil import parser

    parsed: datetime = parser.isoparse(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def datapoints_asked(start: Any, end: Any, period: int) -> int:
    """How many data points a GetMetricStatistics call asks for: its range over its period, rounded up."""
    seconds = (_instant(end) - _instant(start)).total_seconds()
    return max(0, math.ceil(seconds / period)) if period > 0 else 0


def _metric_statistics_datapoints() -> None:
    from moto.cloudwatch.exceptions import InvalidParameterCombination
    from moto.cloudwatch.responses import CloudWatchResponse

    get_metric_statistics = CloudWatchResponse.get_metric_statistics

    def within_datapoints(self: Any) -> Any:
        asked = datapoints_asked(
            self._get_param("StartTime"), self._get_param("EndTime"), self._get_int_param("Period") or 0
        )
        if asked > 1440:
            raise InvalidParameterCombination(
                f"You have requested up to {asked:,} datapoints, which exceeds the limit of 1,440. You may reduce "
                "the datapoints requested by increasing Period, or decreasing the time range."
            )
        return get_metric_statistics(self)

    CloudWatchResponse.get_metric_statistics = within_datapoints  # type: ignore[method-assign]


def _describe_alarms_as_aws() -> None:
    """moto returns composite alarms whatever AlarmTypes says and every alarm in one answer."""
    from moto.cloudwatch.exceptions import InvalidParameterValue
    from moto.cloudwatch.responses import CloudWatchResponse

    describe_alarms = CloudWatchResponse.describe_alarms

    def as_aws(self: Any) -> Any:
        answer = describe_alarms(self)
        types = self._get_param("AlarmTypes") or ["MetricAlarm"]
        limit = self._get_int_param("MaxRecords") or 50
        if not 1 <= limit <= 100:
            raise InvalidParameterValue("MaxRecords must be between 1 and 100")
        result: dict[str, Any] = answer.result  # type: ignore[assignment]  # moto's answer, untyped
        found = [("MetricAlarm", a) for a in result["MetricAlarms"]]
        found += [("CompositeAlarm", a) for a in result["CompositeAlarms"]]
        found = sorted((item for item in found if item[0] in types), key=lambda item: item[1].name)
        start = int(self._get_param("NextToken") or 0)
        page = found[start : start + limit]
        result["MetricAlarms"] = [a for kind, a in page if kind == "MetricAlarm"]
        result["CompositeAlarms"] = [a for kind, a in page if kind == "CompositeAlarm"]
        if start + limit < len(found):
            result["NextToken"] = str(start + limit)
        return answer

    CloudWatchResponse.describe_alarms = as_aws  # type: ignore[method-assign]


# -- Parameter Store --------------------------------------------------------------------------------------


STANDARD_PARAMETER_CHARACTERS = 4096
ADVANCED_PARAMETER_CHARACTERS = 8192


def _parameter_sizes_and_tiers() -> None:
    """Parameter Store's tiers: the value's size each allows, Intelligent-Tiering's choice, no way back."""
    from moto.ssm.exceptions import ValidationException
    from moto.ssm.models import SimpleSystemManagerBackend

    put_parameter = SimpleSystemManagerBackend.put_parameter

    def within_tier(self: Any, name: str, description: str, value: str, *args: Any, **kwargs: Any) -> Any:
        versions = self._parameters.get(name) or []
        previous = versions[-1].tier if versions else None
        asked = kwargs.get("tier") or previous or self.default_parameter_tier
        size = len(value or (versions[-1].value if versions else ""))
        if asked == "Intelligent-Tiering":
            tier = "Advanced" if previous == "Advanced" or size > STANDARD_PARAMETER_CHARACTERS else "Standard"
        else:
            tier = asked
        if previous == "Advanced" and tier == "Standard":
            raise ValidationException(
                "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the "
                "advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced "
                "parameter and recreate it as a standard parameter."
            )
        if tier == "Standard" and size > STANDARD_PARAMETER_CHARACTERS:
            raise ValidationException(
                "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger "
                "parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, "
                "see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html"
            )
        if size > ADVANCED_PARAMETER_CHARACTERS:
            raise ValidationException("Advanced tier parameters support a maximum parameter value of 8192 characters.")
        return put_parameter(self, name, description, value, *args, **{**kwargs, "tier": tier})

    SimpleSystemManagerBackend.put_parameter = within_tier  # type: ignore[method-assign]


# -- API Gateway, Lambda, CloudFormation, EventBridge ------------------------------------------------------------


def refuse_logging_without_account_role(account_id: str, region: str, stage: dict[str, Any]) -> None:
    """What API Gateway answers when a stage that logs (access logs, or execution logging in its method
    settings) is made before the account's CloudWatch role is set: the local stack's stand-in for
    CloudFormation's stage calls this before it makes one."""
    from moto.apigateway.exceptions import BadRequestException
    from moto.apigateway.models import apigateway_backends

    settings = stage.get("MethodSettings") or []
    logs = bool(stage.get("AccessLogSetting")) or any(
        item.get("LoggingLevel") not in {None, "OFF"} for item in settings
    )
    if logs and not apigateway_backends[account_id][region].account.cloudwatch_role_arn:
        raise BadRequestException("CloudWatch Logs role ARN must be set in account settings to enable logging")


def _lambda_concurrency() -> None:
    """An account's Lambda concurrency: reserved executions leave at least 100 unreserved, whether a function
    is made with them (a template's ReservedConcurrentExecutions) or given them later; GetAccountSettings
    answers the account's limit (moto has no such operation)."""
    from moto.awslambda import urls
    from moto.awslambda.exceptions import InvalidParameterValueException
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda.responses import LambdaResponse

    def reserved(backend: Any, except_function: str | None = None) -> int:
        return sum(
            int(function.reserved_concurrency or 0)
            for function in backend.list_functions()
            if function.function_name != except_function
        )

    def check(backend: Any, function_name: str, asked: Any) -> None:
        if asked is None:
            return
        limit = account_concurrency.get(backend.account_id, DEFAULT_ACCOUNT_CONCURRENCY)
        if limit - reserved(backend, function_name) - int(asked) < 100:
            raise InvalidParameterValueException(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                "UnreservedConcurrentExecution below its minimum value of [100]."
            )

    create_function = LambdaBackend.create_function

    def create_within_concurrency(self: Any, spec: dict[str, Any]) -> Any:
        check(self, spec.get("FunctionName", ""), spec.get("ReservedConcurrentExecutions"))
        return create_function(self, spec)

    LambdaBackend.create_function = create_within_concurrency  # type: ignore[method-assign]
    put_concurrency = LambdaBackend.put_function_concurrency

    def put_within_concurrency(self: Any, function_name: str, reserved_concurrency: str) -> Any:
        check(self, self.get_function(function_name).function_name, reserved_concurrency)
        return put_concurrency(self, function_name, reserved_concurrency)

    LambdaBackend.put_function_concurrency = put_within_concurrency  # type: ignore[method-assign]

    def get_account_settings(self: Any) -> Any:
        limit = account_concurrency.get(self.current_account, DEFAULT_ACCOUNT_CONCURRENCY)
        functions = list(self.backend.list_functions())
        body = {
            "AccountLimit": {
                "TotalCodeSize": 80_530_636_800,
                "CodeSizeUnzipped": 262_144_000,
                "CodeSizeZipped": 52_428_800,
                "ConcurrentExecutions": limit,
                "UnreservedConcurrentExecutions": limit - reserved(self.backend),
            },
            "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": len(functions)},
        }
        return 200, {}, json.dumps(body)

    LambdaResponse.get_account_settings = get_account_settings  # type: ignore[attr-defined]
    urls.url_paths[r"{0}/(?P<api_version>[^/]+)/account-settings/?$"] = LambdaResponse.dispatch


TEMPLATE_BODY_BYTES = 51_200
TEMPLATE_URL_BYTES = 1_048_576


def _template_sizes() -> None:
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.responses import CloudFormationResponse

    def within_size(method: Any) -> Any:
        def call(self: Any) -> Any:
            body = self._get_param("TemplateBody")
            if body and len(body.encode()) > TEMPLATE_BODY_BYTES:
                raise ValidationError(
                    message="1 validation error detected: Value '...' at 'templateBody' failed to satisfy constraint: "
                    f"Member must have length less than or equal to {TEMPLATE_BODY_BYTES}"
                )
            url = self._get_param("TemplateURL")
            if url and len(self._get_stack_from_s3_url(url).encode()) > TEMPLATE_URL_BYTES:
                raise ValidationError(message=f"Template may not exceed {TEMPLATE_URL_BYTES} bytes in size.")
            return method(self)

        return call

    for name in ("create_stack", "update_stack", "create_change_set", "validate_template"):
        setattr(CloudFormationResponse, name, within_size(getattr(CloudFormationResponse, name)))


_RULE_NAME = re.compile(r"[\.\-_A-Za-z0-9]{1,64}")


def _rule_names() -> None:
    """moto's EventBridge takes any rule name (a template's rule reaches its backend directly); and where a
    template names no rule, CloudFormation makes a name that fits (moto's may not)."""
    from moto.cloudformation import parsing
    from moto.events.exceptions import ValidationException
    from moto.events.models import EventsBackend

    generate = parsing.generate_resource_name

    def generated_within_limit(resource_type: str, stack_name: str, logical_id: str) -> str:
        name = generate(resource_type, stack_name, logical_id)
        if resource_type == "AWS::Events::Rule" and len(name) > 64:
            prefix, _, suffix = name.rpartition("-")
            name = f"{prefix[: 63 - len(suffix)].rstrip('-')}-{suffix}"
        return name

    parsing.generate_resource_name = generated_within_limit

    put_rule = EventsBackend.put_rule

    def named_as_aws(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        if len(name) > 64:
            raise ValidationException(
                f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must "
                "have length less than or equal to 64"
            )
        if not _RULE_NAME.fullmatch(name):
            raise ValidationException(
                f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must "
                "satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"
            )
        return put_rule(self, name, *args, **kwargs)

    EventsBackend.put_rule = named_as_aws  # type: ignore[method-assign]
    from moto.cloudformation.exceptions import ValidationError
    from moto.events.models import Rule

    made_by_template = Rule.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def rule_of_template(cls: Any, resource_name: str, *args: Any, **kwargs: Any) -> Any:
        # The stack fails with the service's message, in CloudFormation's own error.
        try:
            return made_by_template(cls, resource_name, *args, **kwargs)
        except ValidationException as refused:
            raise ValidationError(message=refused.message) from None

    Rule.create_from_cloudformation_json = classmethod(rule_of_template)  # type: ignore[assignment,method-assign]


def _cluster_members_have_no_snapshot() -> None:
    from moto.rds.exceptions import InvalidParameterValue
    from moto.rds.models import RDSBackend

    create_db_snapshot = RDSBackend.create_db_snapshot

    def instance_snapshot(
        self: Any,
        db_instance_identifier: str,
        db_snapshot_identifier: str,
        snapshot_type: str = "manual",
        **kwargs: Any,
    ) -> Any:
        database = self.databases.get(db_instance_identifier)
        # moto takes an "automated" one itself when it makes an instance; a caller's is manual.
        if snapshot_type == "manual" and database is not None and getattr(database, "db_cluster_identifier", None):
            raise InvalidParameterValue(
                "The specified instance is a member of a cluster and a snapshot cannot be created directly. Please "
                "use the CreateDBClusterSnapshot API instead."
            )
        return create_db_snapshot(self, db_instance_identifier, db_snapshot_identifier, snapshot_type, **kwargs)

    RDSBackend.create_db_snapshot = instance_snapshot  # type: ignore[method-assign,assignment]


def rotation_allowed(key: Any) -> None:
    """KMS rotates symmetric encryption keys only (and not imported ones); AWS's answer for any other."""
    from moto.core.exceptions import JsonRESTError

    if key.key_spec != "SYMMETRIC_DEFAULT":
        raise JsonRESTError(
            "UnsupportedOperationException", f"{key.arn} key spec {key.key_spec} is not supported for this operation."
        )


def _asymmetric_keys_do_not_rotate() -> None:
    from moto.kms.models import KmsBackend

    enable_key_rotation = KmsBackend.enable_key_rotation

    def enable(self: Any, key_id: str, *args: Any, **kwargs: Any) -> Any:
        rotation_allowed(self.describe_key(key_id))
        return enable_key_rotation(self, key_id, *args, **kwargs)

    KmsBackend.enable_key_rotation = enable  # type: ignore[method-assign]


# -- the docs' table --------------------------------------------------------------------------------------


def markdown() -> str:
    """docs/limits.md: the table of LIMITS."""
    lines = [
        "# What AWS refuses, the local stack refuses",
        "",
        "Each row is a limit or rule of AWS that the code can meet, enforced locally with AWS's own error, so a",
        "green `make test` means the stack deploys and its launches run on AWS. The table is",
        "`emulator/localaws/aws_limits.py`'s `LIMITS` (`python -m localaws.aws_limits docs/limits.md`",
        "writes this page; a test compares). `tests/unit/localaws/test_aws_limits.py` has one test per row that",
        "goes past the limit and meets the error.",
        "",
        "| rule | AWS's answer | enforced locally by | source |",
        "|---|---|---|---|",
    ]
    for limit in LIMITS:
        cells = [f"**{limit.key}**: {limit.rule}", f"`{limit.error}`", limit.enforced_by, f"<{limit.source}>"]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    lines += ["", "## Decided where AWS leaves a choice", "", *DECIDED]
    return "\n".join(lines) + "\n"


# What the controller does where AWS allows more than one way, each with the test that pins it.
DECIDED = [
    "- **An environment in the controller's own account** works: its forwarding rules send the account's events "
    "from its default bus to the controller's own bus, as a role of the bus's account "
    "(`test_an_environment_in_the_controllers_own_account_forwards_to_the_controllers_bus`).",
    "- **An Aurora database** is refused at preflight when the profile asks for the pre-launch snapshot "
    "(`rds.instance_snapshots`): RDS refuses `CreateDBSnapshot` for a cluster's member, and the controller takes "
    "and restores instance snapshots only; set `database.snapshot = false` "
    "(`test_an_aurora_members_instance_snapshot_is_refused`, the preflight breaker matrix).",
    "- **Buckets encrypted with a customer managed KMS key** are refused at preflight, naming the key "
    "(`s3.bucket_keys`): the environment's role has no `kms:` right; SSE-S3 and `aws/s3` work (the breaker matrix).",
    "- **Objects with tags** keep them: a copy keeps its source's tags (S3's default), and the environment's role "
    "has the tagging rights each copy needs (`s3:GetObjectTagging`/`GetObjectVersionTagging` on the source, "
    "`s3:PutObjectTagging` on the target; `test_a_tagged_object_keeps_its_tags_on_the_site_and_back_from_the_"
    "rollback_point`, and tests/policies on every recorded copy).",
    "- **The preflight route behind API Gateway's 29 s**: the report is made within 24 s whatever is still running, "
    "a check not finished failing (or warning) and saying so "
    "(`test_a_report_with_a_deadline_is_made_then_and_what_did_not_finish_fails_saying_so`); the local API answers "
    "504 past 29 s as API Gateway does.",
    "- **Functions invoked before their log group exists**: no function may make its own log group "
    "(`logs:CreateLogGroup` is in no policy), so the template's log group, made just after its function, never "
    "finds one already there (`test_no_function_makes_its_own_log_group_the_template_makes_each`).",
]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else None
    if target is None:
        print(markdown(), end="")
    else:
        target.write_text(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
