"""The emulated account's infrastructure: what the local profile names, in a state that passes preflight."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from chalicelib.profiles import EnvironmentProfile

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
ARTIFACT_BUCKET = "acme-artifacts-local"
FIRST_VERSION = "1.0.0"
SMOKE_TOKEN = "local-smoke-token"  # noqa: S105 - the sample site's test credential, stored in the emulated account

ClientFactory = Callable[[str], Any]


def backend_image(version: str) -> str:
    return f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/acme/api:{version}"


def site_build(version: str) -> dict[str, bytes]:
    """A small static build: an entry page, a hashed script and a stylesheet, as a bundler emits."""
    script = f"console.log('acme {version}');".encode()
    style = f"body {{ --release: '{version}'; }}".encode()
    script_name = f"assets/app.{hashlib.sha256(script).hexdigest()[:8]}.js"
    style_name = f"assets/app.{hashlib.sha256(style).hexdigest()[:8]}.css"
    page = (
        f"<html><head><title>Acme {version}</title><link rel=stylesheet href=/{style_name}></head>"
        f"<body><h1>Acme {version}</h1><script src=/{script_name}></script></body></html>"
    ).encode()
    return {"index.html": page, script_name: script, style_name: style}


def publish_release(client: ClientFactory, version: str) -> str:
    """Upload a release's static build to the artifact bucket; returns its s3:// prefix."""
    s3 = client("s3")
    prefix = f"releases/{version}/"
    for key, body in site_build(version).items():
        s3.put_object(Bucket=ARTIFACT_BUCKET, Key=prefix + key, Body=body)
    return f"s3://{ARTIFACT_BUCKET}/{prefix}"


def create_environment(client: ClientFactory, profile: EnvironmentProfile, alarm_topic_arn: str = "") -> None:
    """Buckets, distribution, ECS service, database and alarms, running version FIRST_VERSION."""
    s3 = client("s3")
    for bucket in (profile.frontend.site_bucket, profile.frontend.backup_bucket, ARTIFACT_BUCKET):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=profile.frontend.site_bucket, VersioningConfiguration={"Status": "Enabled"})
    for key, body in site_build(FIRST_VERSION).items():
        s3.put_object(Bucket=profile.frontend.site_bucket, Key=key, Body=body, ContentType=_type(key))
    create_distribution(client, profile.frontend.site_bucket, profile.frontend.distribution_id)

    ecs = client("ecs")
    ecs.create_cluster(clusterName=profile.backend.cluster)
    definition = ecs.register_task_definition(
        family=profile.backend.service,
        containerDefinitions=[
            {
                "name": profile.backend.container,
                "image": backend_image(FIRST_VERSION),
                "memory": 512,
                "essential": True,
                "portMappings": [{"containerPort": 8080}],
            }
        ],
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=profile.backend.cluster, serviceName=profile.backend.service, taskDefinition=definition, desiredCount=2
    )
    migration = profile.backend.migration
    if migration is not None:
        # Fargate means awsvpc, whose ENIs moto creates in subnets that exist; the local profile names
        # none, so its migration task definition is a bridge-mode one.
        network: dict[str, Any] = (
            {"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc"}
            if migration.subnets
            else {"networkMode": "bridge"}
        )
        ecs.register_task_definition(
            family=migration.task_definition.split(":")[0],
            containerDefinitions=[
                {
                    "name": migration.container,
                    "image": backend_image(FIRST_VERSION),
                    "memory": 512,
                    "essential": True,
                    "command": ["python", "-m", "acme.migrate", "upgrade"],
                }
            ],
            cpu="256",
            memory="512",
            **network,
        )
    if profile.smoke.credential_secret_id:
        client("secretsmanager").create_secret(
            Name=profile.smoke.credential_secret_id, SecretString=json.dumps({"token": SMOKE_TOKEN})
        )

    client("rds").create_db_instance(
        DBInstanceIdentifier=profile.database.instance_id,
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MasterUsername="acme",
        MasterUserPassword="local-only-password",
        AllocatedStorage=20,
        StorageEncrypted=True,
        MultiAZ=True,
        BackupRetentionPeriod=30,
    )
    cloudwatch = client("cloudwatch")
    for name in profile.bake.alarm_names:
        errors = "5xx" in name
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/ApplicationELB",
            MetricName="HTTPCode_Target_5XX_Count" if errors else "TargetResponseTime",
            Dimensions=[{"Name": "LoadBalancer", "Value": profile.bake.load_balancer or "none"}],
            Statistic="Sum" if errors else "Average",
            Period=60,
            EvaluationPeriods=1,
            Threshold=5 if errors else 0.5,
            ComparisonOperator="GreaterThanThreshold",
            AlarmActions=[alarm_topic_arn] if alarm_topic_arn else [],
        )


def _type(key: str) -> str:
    return "text/html" if key.endswith(".html") else "text/css" if key.endswith(".css") else "text/javascript"


def create_distribution(client: ClientFactory, bucket: str, distribution_id: str) -> None:
    """Create the site's distribution and give it the id the profile names (moto picks a random one)."""
    from moto.cloudfront.models import cloudfront_backends

    created = client("cloudfront").create_distribution(
        DistributionConfig={
            "CallerReference": f"{bucket}-site",
            "Comment": f"{bucket} site",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "site",
                        "DomainName": f"{bucket}.s3.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "site",
                "ViewerProtocolPolicy": "redirect-to-https",
                "MinTTL": 0,
                "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                "TrustedSigners": {"Enabled": False, "Quantity": 0},
            },
        }
    )["Distribution"]["Id"]
    backend = cloudfront_backends[ACCOUNT_ID]["aws"]
    distribution = backend.distributions.pop(created)
    distribution.distribution_id = distribution.id = distribution_id
    distribution.arn = f"arn:aws:cloudfront::{ACCOUNT_ID}:distribution/{distribution_id}"
    backend.distributions[distribution_id] = distribution
