"""What IAM judges an AWS call by: each action it needs and the resource ARN each action is checked on.

From the service authorisation reference, for the calls the Lambdas make. An action that IAM cannot scope
to a resource is judged on `*`, and only a policy granting it on `*` allows it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# botocore's service ids whose IAM prefix differs.
_PREFIX = {
    "cloudwatch-logs": "logs",
    "elastic-load-balancing-v2": "elasticloadbalancing",
    "secrets-manager": "secretsmanager",
    "sfn": "states",
}
# Secrets Manager appends six random characters to a secret's name in its ARN.
SECRET_SUFFIX = "-XXXXXX"  # noqa: S105 - a name suffix, not a password

Need = tuple[str, str]  # (IAM action, resource ARN or "*")


class Account:
    """Where the calls go: ARNs name the partition, region and account."""

    def __init__(self, region: str, account_id: str, partition: str = "aws") -> None:
        self.region = region
        self.account_id = account_id
        self.partition = partition

    def arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account_id if account else ''}:{resource}"
        )


def _named(value: str, account: Account, service: str, resource: str) -> str:
    """An ARN the caller gave as it is; a name made into the ARN of `resource` (with `{}` for the name).
    IAM's ARNs name no region."""
    return value if value.startswith("arn:") else account.arn(service, resource.format(value), region=service != "iam")


def _s3(account: Account, bucket: str, key: str | None = None) -> str:
    """S3's ARNs name neither region nor account."""
    return account.arn("s3", bucket if key is None else f"{bucket}/{key}", region=False, account=False)


def _dynamodb(action: str) -> Callable[[dict[str, Any], Account], list[Need]]:
    def needs(params: dict[str, Any], account: Account) -> list[Need]:
        table = _named(params["TableName"], account, "dynamodb", "table/{}")
        if params.get("IndexName"):
            table += f"/index/{params['IndexName']}"
        return [(action, table)]

    return needs


# A transaction needs each item's own action, on the item's table (IAM has no dynamodb:TransactWriteItems).
TRANSACTION_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


def _transaction(params: dict[str, Any], account: Account) -> list[Need]:
    return [
        (TRANSACTION_ITEM_ACTIONS[kind], _named(item["TableName"], account, "dynamodb", "table/{}"))
        for entry in params.get("TransactItems", [])
        for kind, item in entry.items()
    ]


def _batch_get(params: dict[str, Any], account: Account) -> list[Need]:
    """A BatchGetItem needs dynamodb:BatchGetItem on each table it reads."""
    return [
        ("dynamodb:BatchGetItem", _named(table, account, "dynamodb", "table/{}"))
        for table in params.get("RequestItems", {})
    ]


def _copy_object(params: dict[str, Any], account: Account) -> list[Need]:
    source = params["CopySource"]
    if isinstance(source, str):
        path, _sep, query = source.lstrip("/").partition("?")
        bucket, _sep, key = path.partition("/")
        versioned = "versionId=" in query
    else:
        bucket, key, versioned = source["Bucket"], source["Key"], bool(source.get("VersionId"))
    read = "s3:GetObjectVersion" if versioned else "s3:GetObject"
    target = _s3(account, params["Bucket"], params["Key"])
    needs = [("s3:PutObject", target), (read, _s3(account, bucket, key))]
    if params.get("TaggingDirective", "COPY") == "COPY":
        # A copy keeps the source's tags (S3's default), which S3 reads and writes with the tagging rights.
        tags = "s3:GetObjectVersionTagging" if versioned else "s3:GetObjectTagging"
        needs += [(tags, _s3(account, bucket, key)), ("s3:PutObjectTagging", target)]
    return needs


def _delete_objects(params: dict[str, Any], account: Account) -> list[Need]:
    return [
        (
            "s3:DeleteObjectVersion" if item.get("VersionId") else "s3:DeleteObject",
            _s3(account, params["Bucket"], item["Key"]),
        )
        for item in params["Delete"]["Objects"]
    ]


def _bucket(action: str) -> Callable[[dict[str, Any], Account], list[Need]]:
    return lambda params, account: [(action, _s3(account, params["Bucket"]))]


def _object(action: str) -> Callable[[dict[str, Any], Account], list[Need]]:
    return lambda params, account: [(action, _s3(account, params["Bucket"], params["Key"]))]


def _distribution(action: str, field: str) -> Callable[[dict[str, Any], Account], list[Need]]:
    return lambda params, account: [(action, account.arn("cloudfront", f"distribution/{params[field]}", region=False))]


def _cluster_name(params: dict[str, Any]) -> str:
    return str(params.get("cluster", "default")).rsplit("/", 1)[-1]


def _in_cluster(action: str, kind: str, many: str, one: str) -> Callable[[dict[str, Any], Account], list[Need]]:
    """An ECS call on services or tasks of a cluster, named in its `many` list or its `one` parameter."""

    def needs(params: dict[str, Any], account: Account) -> list[Need]:
        cluster = _cluster_name(params)
        names = params.get(many) or [params[one]]
        return [(action, _named(name, account, "ecs", f"{kind}/{cluster}/{{}}")) for name in names]

    return needs


def _update_service(params: dict[str, Any], account: Account) -> list[Need]:
    """UpdateService, and passing each lifecycle hook's role to ECS (it invokes the hook as that role)."""
    hooks = (params.get("deploymentConfiguration") or {}).get("lifecycleHooks") or []
    passed = [("iam:PassRole", str(hook["roleArn"])) for hook in hooks if hook.get("roleArn")]
    return _in_cluster("ecs:UpdateService", "service", "services", "service")(params, account) + passed


def _passed_roles(params: dict[str, Any], account: Account) -> list[Need]:
    roles = [params.get("taskRoleArn"), params.get("executionRoleArn")]
    return [("iam:PassRole", _named(role, account, "iam", "role/{}")) for role in roles if role]


def _register_task_definition(params: dict[str, Any], account: Account) -> list[Need]:
    tagged = account.arn("ecs", f"task-definition/{params['family']}:*")
    tags = [("ecs:TagResource", tagged)] if params.get("tags") else []
    return [("ecs:RegisterTaskDefinition", "*"), *tags, *_passed_roles(params, account)]


def _run_task(params: dict[str, Any], account: Account) -> list[Need]:
    definition = params["taskDefinition"]
    if not definition.startswith("arn:"):
        family, _, revision = definition.partition(":")
        definition = account.arn("ecs", f"task-definition/{family}:{revision or '*'}")
    tags = [("ecs:TagResource", account.arn("ecs", f"task/{_cluster_name(params)}/*"))] if params.get("tags") else []
    overrides = params.get("overrides", {})
    return [("ecs:RunTask", definition), *tags, *_passed_roles(overrides, account)]


def _rds(action: str, *fields: tuple[str, str]) -> Callable[[dict[str, Any], Account], list[Need]]:
    """`fields`: (parameter, ARN resource with `{}` for its value); a call without one is judged on `*`."""

    def needs(params: dict[str, Any], account: Account) -> list[Need]:
        named = [_named(params[field], account, "rds", resource) for field, resource in fields if params.get(field)]
        tagged = [("rds:AddTagsToResource", arn) for arn in named[:1] if params.get("Tags")]
        return [(action, arn) for arn in named or ["*"]] + tagged

    return needs


def _secret(action: str) -> Callable[[dict[str, Any], Account], list[Need]]:
    return lambda params, account: [
        (action, _named(params["SecretId"], account, "secretsmanager", "secret:{}" + SECRET_SUFFIX))
    ]


def _parameter(action: str, field: str) -> Callable[[dict[str, Any], Account], list[Need]]:
    """A Parameter Store call on one parameter or path (`name:version` selects a version of the name)."""
    return lambda params, account: [
        (action, account.arn("ssm", "parameter/" + str(params[field]).split(":", 1)[0].lstrip("/")))
    ]


def _parameters(action: str, field: str) -> Callable[[dict[str, Any], Account], list[Need]]:
    """A Parameter Store call on several parameters: the action on each."""
    return lambda params, account: [
        (action, account.arn("ssm", "parameter/" + str(name).split(":", 1)[0].lstrip("/"))) for name in params[field]
    ]


def _put_metric_alarm(params: dict[str, Any], account: Account) -> list[Need]:
    """An alarm made with tags needs the right to tag it too."""
    alarm = account.arn("cloudwatch", f"alarm:{params['AlarmName']}")
    return [("cloudwatch:PutMetricAlarm", alarm)] + ([("cloudwatch:TagResource", alarm)] if params.get("Tags") else [])


def _field_arn(action: str, field: str) -> Callable[[dict[str, Any], Account], list[Need]]:
    return lambda params, _: [(action, params[field])]


def _key(action: str) -> Callable[[dict[str, Any], Account], list[Need]]:
    """KMS judges a call on the key's ARN, whatever the caller named it by; an alias stands for the key it
    names (here `key/*`: the policies scope the key by its alias, kms:ResourceAliases)."""

    def needs(params: dict[str, Any], account: Account) -> list[Need]:
        named = str(params["KeyId"])
        if named.startswith("arn:") and ":key/" in named:
            return [(action, named)]
        if named.startswith(("alias/", "arn:")):
            return [(action, account.arn("kms", "key/*"))]
        return [(action, account.arn("kms", f"key/{named}"))]

    return needs


def _canary(action: str) -> Callable[[dict[str, Any], Account], list[Need]]:
    return lambda params, account: [(action, account.arn("synthetics", f"canary:{params['Name']}"))]


_NEEDS: dict[str, Callable[[dict[str, Any], Account], list[Need]]] = {
    "acm.DescribeCertificate": _field_arn("acm:DescribeCertificate", "CertificateArn"),
    "cloudfront.CreateInvalidation": _distribution("cloudfront:CreateInvalidation", "DistributionId"),
    "cloudfront.GetInvalidation": _distribution("cloudfront:GetInvalidation", "DistributionId"),
    "cloudfront.GetDistribution": _distribution("cloudfront:GetDistribution", "Id"),
    "cloudfront-keyvaluestore.DescribeKeyValueStore": _field_arn(
        "cloudfront-keyvaluestore:DescribeKeyValueStore", "KvsARN"
    ),
    "cloudfront-keyvaluestore.GetKey": _field_arn("cloudfront-keyvaluestore:GetKey", "KvsARN"),
    "cloudfront-keyvaluestore.PutKey": _field_arn("cloudfront-keyvaluestore:PutKey", "KvsARN"),
    "cloudfront-keyvaluestore.DeleteKey": _field_arn("cloudfront-keyvaluestore:DeleteKey", "KvsARN"),
    "cloudfront.DescribeFunction": lambda params, account: [
        ("cloudfront:DescribeFunction", account.arn("cloudfront", f"function/{params['Name']}", region=False))
    ],
    "cloudwatch.PutMetricAlarm": _put_metric_alarm,
    "cloudwatch.DeleteAlarms": lambda params, account: [
        ("cloudwatch:DeleteAlarms", account.arn("cloudwatch", f"alarm:{name}")) for name in params["AlarmNames"]
    ],
    "dynamodb.GetItem": _dynamodb("dynamodb:GetItem"),
    "dynamodb.PutItem": _dynamodb("dynamodb:PutItem"),
    "dynamodb.UpdateItem": _dynamodb("dynamodb:UpdateItem"),
    "dynamodb.DeleteItem": _dynamodb("dynamodb:DeleteItem"),
    "dynamodb.Query": _dynamodb("dynamodb:Query"),
    "dynamodb.TransactWriteItems": _transaction,
    "dynamodb.BatchGetItem": _batch_get,
    "ecr.DescribeImages": lambda params, account: [
        ("ecr:DescribeImages", account.arn("ecr", f"repository/{params['repositoryName']}"))
    ],
    "ecs.DescribeServices": _in_cluster("ecs:DescribeServices", "service", "services", "service"),
    "ecs.UpdateService": _update_service,
    "ecs.ListServiceDeployments": _in_cluster("ecs:ListServiceDeployments", "service", "services", "service"),
    "ecs.DescribeServiceRevisions": lambda params, account: [
        ("ecs:DescribeServiceRevisions", arn) for arn in params["serviceRevisionArns"]
    ],
    "ecs.DescribeTasks": _in_cluster("ecs:DescribeTasks", "task", "tasks", "task"),
    "ecs.StopTask": _in_cluster("ecs:StopTask", "task", "tasks", "task"),
    "ecs.RegisterTaskDefinition": _register_task_definition,
    "ecs.RunTask": _run_task,
    "kms.Sign": _key("kms:Sign"),
    "kms.GetPublicKey": _key("kms:GetPublicKey"),
    "iam.GetRole": lambda params, account: [
        ("iam:GetRole", account.arn("iam", f"role/{params['RoleName']}", region=False))
    ],
    "rds.DescribeDBInstances": _rds("rds:DescribeDBInstances", ("DBInstanceIdentifier", "db:{}")),
    "rds.DescribeDBSnapshots": _rds("rds:DescribeDBSnapshots", ("DBSnapshotIdentifier", "snapshot:{}")),
    "rds.CreateDBSnapshot": _rds(
        "rds:CreateDBSnapshot", ("DBSnapshotIdentifier", "snapshot:{}"), ("DBInstanceIdentifier", "db:{}")
    ),
    "rds.RestoreDBInstanceFromDBSnapshot": _rds(
        "rds:RestoreDBInstanceFromDBSnapshot",
        ("DBInstanceIdentifier", "db:{}"),
        ("DBSnapshotIdentifier", "snapshot:{}"),
        ("DBSubnetGroupName", "subgrp:{}"),
        ("DBParameterGroupName", "pg:{}"),
        ("OptionGroupName", "og:{}"),
    ),
    "s3.CopyObject": _copy_object,
    "s3.DeleteObjects": _delete_objects,
    "s3.GetObject": _object("s3:GetObject"),
    "s3.HeadObject": _object("s3:GetObject"),  # IAM has no HeadObject: a head is judged as a get
    "s3.PutObject": _object("s3:PutObject"),
    "s3.HeadBucket": _bucket("s3:ListBucket"),
    "s3.ListObjectsV2": _bucket("s3:ListBucket"),
    "s3.ListObjectVersions": _bucket("s3:ListBucketVersions"),
    "s3.GetBucketVersioning": _bucket("s3:GetBucketVersioning"),
    "s3.GetBucketCors": _bucket("s3:GetBucketCORS"),  # IAM spells the action CORS
    "s3.GetBucketLifecycleConfiguration": _bucket("s3:GetLifecycleConfiguration"),
    "s3.GetBucketEncryption": _bucket("s3:GetEncryptionConfiguration"),
    "secrets-manager.GetSecretValue": _secret("secretsmanager:GetSecretValue"),
    "secrets-manager.DescribeSecret": _secret("secretsmanager:DescribeSecret"),
    "synthetics.GetCanary": _canary("synthetics:GetCanary"),
    "synthetics.StartCanary": _canary("synthetics:StartCanary"),
    "synthetics.GetCanaryRuns": _canary("synthetics:GetCanaryRuns"),
    "sns.Publish": _field_arn("sns:Publish", "TopicArn"),
    "sns.ListSubscriptionsByTopic": _field_arn("sns:ListSubscriptionsByTopic", "TopicArn"),
    "ssm.GetParameter": _parameter("ssm:GetParameter", "Name"),
    "ssm.GetParameters": _parameters("ssm:GetParameters", "Names"),
    "ssm.GetParametersByPath": _parameter("ssm:GetParametersByPath", "Path"),
    "ssm.GetParameterHistory": _parameter("ssm:GetParameterHistory", "Name"),
    "ssm.PutParameter": _parameter("ssm:PutParameter", "Name"),
    "sts.AssumeRole": lambda params, _: (
        [("sts:AssumeRole", params["RoleArn"])]
        + ([("sts:TagSession", params["RoleArn"])] if params.get("Tags") else [])
    ),
    "sts.GetCallerIdentity": lambda params, _: [],
    "sfn.StartExecution": _field_arn("states:StartExecution", "stateMachineArn"),
    "sfn.DescribeExecution": _field_arn("states:DescribeExecution", "executionArn"),
}


def needs(operation: str, params: dict[str, Any], account: Account) -> list[Need]:
    """What IAM checks for a call: `operation` as botocore's events name it, `<service id>.<Operation>`,
    with the parameters the caller passed."""
    if operation in _NEEDS:
        return _NEEDS[operation](params, account)
    service, name = operation.split(".", 1)
    return [(f"{_PREFIX.get(service, service)}:{name}", "*")]
