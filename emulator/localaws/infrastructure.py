"""The emulated account's infrastructure: what the local profile names, in a state that passes preflight."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from chalicelib.domain.profiles import EnvironmentProfile

# Two accounts, as a team runs it: the controller in a tools account, the environment in its own.
ACCOUNT_ID = "123456789012"
ENVIRONMENT_ACCOUNT_ID = "210987654321"
REGION = "us-east-1"
ARTIFACT_BUCKET = "acme-artifacts-local"
ECR_REPOSITORY = "acme/api"
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]
SITE_DOMAIN = "www.acme.example"
ON_CALL = "oncall@acme.example"
FIRST_VERSION = "1.0.0"
SMOKE_TOKEN = "local-smoke-token"  # noqa: S105 - the sample site's test credential, stored in the emulated account

ClientFactory = Callable[[str], Any]


def backend_image(version: str, account: str = ENVIRONMENT_ACCOUNT_ID) -> str:
    """The release's image in the environment's registry."""
    return f"{account}.dkr.ecr.{REGION}.amazonaws.com/acme/api:{version}"


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


def task_roles(client: ClientFactory, profile: EnvironmentProfile) -> dict[str, str]:
    """The roles the profile lets a release pass to ECS, made in the account (trusting ECS tasks), as a task
    definition names them: the first the task's role, the second its execution role."""
    iam = client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    for arn in profile.backend.task_roles:
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_role(RoleName=arn.rsplit("/", 1)[-1], AssumeRolePolicyDocument=json.dumps(trust))
    return dict(zip(("taskRoleArn", "executionRoleArn"), profile.backend.task_roles, strict=False))


def publish_release(client: ClientFactory, version: str, defects: Collection[str] = ()) -> str:
    """Upload a release's static build to the artifact bucket and push its image; returns the s3:// prefix.

    `defects`: the release items broken in this account (RELEASE_DEFECTS), which a new release has too."""
    s3 = client("s3")
    prefix = f"releases/{version}/"
    for key, body in site_build(version).items():
        s3.put_object(Bucket=ARTIFACT_BUCKET, Key=prefix + key, Body=body)
    if "app.bundle_budget" in defects:
        s3.put_object(Bucket=ARTIFACT_BUCKET, Key=prefix + "assets/app.vendor.js", Body=_oversized())
    if "app.image_in_ecr" not in defects:
        push_image(client, version, critical="app.image_scan" in defects)
    return f"s3://{ARTIFACT_BUCKET}/{prefix}"


def push_image(client: ClientFactory, version: str, critical: bool = False) -> None:
    """What `docker push` leaves in ECR: a manifest under the version's tag."""
    config_digest = "sha256:" + hashlib.sha256(version.encode()).hexdigest()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7, "digest": config_digest},
        "layers": [],
    }
    ecr = client("ecr")
    with contextlib.suppress(ecr.exceptions.ImageAlreadyExistsException):  # published before: the same image
        ecr.put_image(repositoryName=ECR_REPOSITORY, imageManifest=json.dumps(manifest), imageTag=version)
    if critical:
        _critical_findings(client, version)
    # The repository scans on push (basic scanning): the findings are ECR's, read by preflight. An image
    # pushed again was scanned already (basic scanning allows one scan a day).
    with contextlib.suppress(ecr.exceptions.LimitExceededException):
        ecr.start_image_scan(repositoryName=ECR_REPOSITORY, imageId={"imageTag": version})


def _critical_findings(client: ClientFactory, version: str) -> None:
    """The image's scan finds a critical vulnerability (moto's way to set a scan's result)."""
    from moto.ecr.models import ecr_backends

    account = client("sts").get_caller_identity()["Account"]
    ecr_backends[account][REGION].scan_finding_results.append(
        {
            "repositoryName": ECR_REPOSITORY,
            "imageId": {"imageTag": version},
            "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
            "imageScanFindings": {"findingSeverityCounts": {"CRITICAL": 1, "HIGH": 2}, "findings": []},
        }
    )


def expire_old_versions(client: ClientFactory, profile: EnvironmentProfile) -> None:
    """The site bucket keeps a replaced version 30 days (a rollback reaches back a launch or two), then drops it."""
    client("s3").put_bucket_lifecycle_configuration(
        Bucket=profile.frontend.site_bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire-old-site-versions",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                }
            ]
        },
    )


def create_canaries(client: ClientFactory, profile: EnvironmentProfile) -> None:
    """The team's functional test canaries, each to run once when started (rate(0 minute)), keeping their
    screenshots and logs in the backup bucket; the local Synthetics runs the sample site's journey."""
    from localaws import synthetics

    synthetics.install()
    for name in profile.functional.canaries if profile.functional else []:
        client("synthetics").create_canary(
            Name=name,
            Code={"Handler": "journeys.handler", "S3Bucket": profile.frontend.artifact_bucket, "S3Key": "canary.zip"},
            ArtifactS3Location=f"s3://{profile.frontend.backup_bucket}/canary/{name}",
            ExecutionRoleArn=f"arn:aws:iam::{profile.target.account_id}:role/{profile.name}-canary",
            Schedule={"Expression": "rate(0 minute)"},
            RunConfig={"TimeoutInSeconds": 60},
            RuntimeVersion="syn-nodejs-puppeteer-9.1",
        )


DATABASE_PARAMETERS = "acme-postgres13"
DATABASE_OPTIONS = "acme-postgres13-options"


def create_environment(
    client: ClientFactory, profile: EnvironmentProfile, alarm_topic_arn: str = "", edge: bool = True
) -> None:
    """Buckets, distribution, ECS service, database and alarms, running version FIRST_VERSION; with `edge`,
    the network, certificate, load balancer and the rest only preflight reads (most of the time it takes)."""
    s3 = client("s3")
    for bucket in (profile.frontend.site_bucket, profile.frontend.backup_bucket, profile.frontend.artifact_bucket):
        s3.create_bucket(Bucket=bucket, **_located(s3))
    _release_pipeline_roles(client, profile)
    s3.put_bucket_versioning(Bucket=profile.frontend.site_bucket, VersioningConfiguration={"Status": "Enabled"})
    expire_old_versions(client, profile)
    for key, body in site_build(FIRST_VERSION).items():
        s3.put_object(Bucket=profile.frontend.site_bucket, Key=key, Body=body, ContentType=_type(key))
    create_distribution(client, profile.frontend.site_bucket, profile.frontend.distribution_id)
    create_release_router(client, profile)
    create_canaries(client, profile)

    # The running version's image is in ECR before a service runs it: ECS resolves its tag when it starts.
    client("ecr").create_repository(repositoryName=ECR_REPOSITORY)
    push_image(client, FIRST_VERSION)
    running = backend_image(FIRST_VERSION, client("sts").get_caller_identity()["Account"])  # in this account's ECR
    ecs = client("ecs")
    ecs.create_cluster(clusterName=profile.backend.cluster)
    roles = task_roles(client, profile)
    definition = ecs.register_task_definition(
        **roles,
        family=profile.backend.service,
        containerDefinitions=[
            {
                "name": profile.backend.container,
                "image": running,
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
            **roles,
            family=migration.family,
            containerDefinitions=[
                {
                    "name": migration.container,
                    "image": running,
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

    # The team's own parameter and option groups, as a tuned database has (a restore must keep them).
    rds = client("rds")
    rds.create_db_parameter_group(
        DBParameterGroupName=DATABASE_PARAMETERS, DBParameterGroupFamily="postgres13", Description="acme's tuning"
    )
    rds.create_option_group(
        OptionGroupName=DATABASE_OPTIONS, EngineName="postgres", MajorEngineVersion="13", OptionGroupDescription="acme"
    )
    rds.create_db_instance(
        DBInstanceIdentifier=profile.database.instance_id,
        DBParameterGroupName=DATABASE_PARAMETERS,
        OptionGroupName=DATABASE_OPTIONS,
        Engine="postgres",
        EngineVersion="13.15",
        DBInstanceClass="db.t3.micro",
        MasterUsername="acme",
        MasterUserPassword="local-only-password",
        AllocatedStorage=20,
        StorageEncrypted=True,
        MultiAZ=True,
        BackupRetentionPeriod=30,
        EnablePerformanceInsights=True,
        PubliclyAccessible=False,
        DeletionProtection=True,
    )
    if edge:
        create_network_and_edge(client, profile, alarm_topic_arn)
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
    account = client("sts").get_caller_identity()["Account"]
    backend = cloudfront_backends[account]["aws"]
    distribution = backend.distributions.pop(created)
    distribution.distribution_id = distribution.id = distribution_id
    distribution.arn = f"arn:aws:cloudfront::{account}:distribution/{distribution_id}"
    backend.distributions[distribution_id] = distribution


# The release router (deploy/release-router.js), as a team publishes it beside its distribution.
RELEASE_ROUTER = Path(__file__).resolve().parents[2] / "deploy" / "release-router.js"
RELEASE_ROUTER_NAME = "release-router"


def create_release_router(client: ClientFactory, profile: EnvironmentProfile) -> None:
    """The KeyValueStore the profile names (moto picks a random id: it is given the profile's), the release
    router reading it, published, and associated with the distribution's default behaviour, viewer request
    and viewer response.
    The store starts empty: the distribution serves the bucket's own layout until a launch switches."""
    from moto.cloudfront.models import cloudfront_backends

    arn = profile.frontend.key_value_store_arn
    if arn is None:
        return
    account = client("sts").get_caller_identity()["Account"]
    if arn.split(":")[4] != account:
        raise ValueError(f"the profile's KeyValueStore {arn} is not in the environment's account {account}")
    cloudfront = client("cloudfront")
    created = cloudfront.create_key_value_store(Name=f"{profile.name}-releases", Comment="the live release")
    backend = cloudfront_backends[account]["aws"]
    store = backend.key_value_stores[created["KeyValueStore"]["Name"]]
    store.arn, store.id = arn, arn.rsplit("/", 1)[-1]
    function = cloudfront.create_function(
        Name=f"{profile.name}-{RELEASE_ROUTER_NAME}",
        FunctionConfig={
            "Comment": "serves the live release's prefix",
            "Runtime": "cloudfront-js-2.0",
            "KeyValueStoreAssociations": {"Quantity": 1, "Items": [{"KeyValueStoreARN": arn}]},
        },
        FunctionCode=RELEASE_ROUTER.read_bytes(),
    )["FunctionSummary"]
    backend.functions[function["Name"]].stage = "LIVE"  # moto has no PublishFunction
    current = cloudfront.get_distribution_config(Id=profile.frontend.distribution_id)
    config = current["DistributionConfig"]
    router = function["FunctionMetadata"]["FunctionARN"]
    # Viewer request chooses the release; viewer response keeps a frontend canary's viewer on its side.
    config["DefaultCacheBehavior"]["FunctionAssociations"] = {
        "Quantity": 2,
        "Items": [
            {"FunctionARN": router, "EventType": "viewer-request"},
            {"FunctionARN": router, "EventType": "viewer-response"},
        ],
    }
    cloudfront.update_distribution(
        Id=profile.frontend.distribution_id, IfMatch=current["ETag"], DistributionConfig=config
    )


def api_target_group(elb: Any, name: str, vpc: str) -> str:
    """A target group of the API's tasks (by IP, port 8080), health-checked on /health: its ARN."""
    created: str = elb.create_target_group(
        Name=name,
        Protocol="HTTP",
        Port=8080,
        VpcId=vpc,
        TargetType="ip",
        HealthCheckEnabled=True,
        HealthCheckPath="/health",
    )["TargetGroups"][0]["TargetGroupArn"]
    return created


def blue_green(client: ClientFactory, profile: EnvironmentProfile, vpc: str, listener: str, blue: str) -> None:
    """The service behind two target groups, as ECS's blue/green, canary and linear deployments want it: the
    standby (green) target group, a production listener rule forwarding to both (the standby weighted 0), the
    role ECS changes the rule with, and the service's load balancer naming all three."""
    elb = client("elbv2")
    green = api_target_group(elb, f"{profile.preflight.load_balancer}-api-green", vpc)
    rule = elb.create_rule(
        ListenerArn=listener,
        Priority=1,
        Conditions=[{"Field": "path-pattern", "Values": ["/*"]}],
        Actions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [{"TargetGroupArn": blue, "Weight": 100}, {"TargetGroupArn": green, "Weight": 0}]
                },
            }
        ],
    )["Rules"][0]["RuleArn"]
    iam = client("iam")
    role = iam.create_role(
        RoleName=f"{profile.backend.service}-ecs-load-balancers",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ecs.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    client("ecs").update_service(
        cluster=profile.backend.cluster,
        service=profile.backend.service,
        loadBalancers=[
            {
                "targetGroupArn": blue,
                "containerName": profile.backend.container,
                "containerPort": 8080,
                "advancedConfiguration": {
                    "alternateTargetGroupArn": green,
                    "productionListenerRule": rule,
                    "roleArn": role,
                },
            }
        ],
    )


def create_network_and_edge(client: ClientFactory, profile: EnvironmentProfile, alarm_topic_arn: str) -> None:
    """The rest of what preflight checks: VPC, certificate and domain, load balancer, secrets, monitoring."""
    preflight = profile.preflight
    ec2 = client("ec2")
    vpc = ec2.create_vpc(
        CidrBlock="10.20.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": preflight.vpc}]}],
    )["Vpc"]["VpcId"]
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    public_routes = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_routes, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    public_subnets = []
    for index, zone in enumerate(ZONES):
        public = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{index}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        ec2.associate_route_table(RouteTableId=public_routes, SubnetId=public)
        public_subnets.append(public)
        address = ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=address)["NatGateway"]["NatGatewayId"]
        private = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{index + 10}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        private_routes = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=private_routes, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
        ec2.associate_route_table(RouteTableId=private_routes, SubnetId=private)
    web = ec2.create_security_group(GroupName="acme-web", Description="load balancer", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=web,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            for port in (80, 443)
        ],
    )
    database = ec2.create_security_group(GroupName="acme-db", Description="database", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=database,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": web}]}],
    )

    # CloudFront's certificate is in us-east-1; the load balancer's in its own region.
    serve_domain(client, profile.frontend.distribution_id, SITE_DOMAIN, import_certificate(client, SITE_DOMAIN))
    certificate = import_certificate(client, SITE_DOMAIN, service="acm")

    s3 = client("s3")
    logs_bucket = f"{preflight.load_balancer}-access-logs"
    s3.create_bucket(Bucket=logs_bucket, **_located(s3))
    elb = client("elbv2")
    balancer = elb.create_load_balancer(Name=preflight.load_balancer, Subnets=public_subnets, SecurityGroups=[web])[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    targets = api_target_group(elb, f"{preflight.load_balancer}-api", vpc)
    elb.register_targets(
        TargetGroupArn=targets, Targets=[{"Id": "10.20.10.10", "Port": 8080}, {"Id": "10.20.11.10", "Port": 8080}]
    )
    https = elb.create_listener(
        LoadBalancerArn=balancer,
        Protocol="HTTPS",
        Port=443,
        SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
        Certificates=[{"CertificateArn": certificate}],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": targets}],
    )["Listeners"][0]["ListenerArn"]
    blue_green(client, profile, vpc, https, targets)
    elb.create_listener(
        LoadBalancerArn=balancer,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
        ],
    )
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=balancer,
        Attributes=[
            {"Key": "access_logs.s3.enabled", "Value": "true"},
            {"Key": "access_logs.s3.bucket", "Value": logs_bucket},
        ],
    )

    protect_the_edge(client, profile, balancer)

    secrets = client("secretsmanager")
    for name in (preflight.secrets.database_password, preflight.secrets.jwt_secret, preflight.secrets.github_oauth):
        secrets.create_secret(Name=name, SecretString=secrets_value(name))

    client("cloudwatch").put_dashboard(
        DashboardName=preflight.dashboard,
        DashboardBody=json.dumps(
            {"widgets": [{"type": "alarm", "properties": {"alarms": list(profile.bake.alarm_names)}}]}
        ),
    )
    cloudwatch_logs = client("logs")
    for group in preflight.log_groups:
        cloudwatch_logs.create_log_group(logGroupName=group)
        cloudwatch_logs.put_retention_policy(logGroupName=group, retentionInDays=30)
        cloudwatch_logs.create_log_stream(logGroupName=group, logStreamName=LOG_STREAM)
        cloudwatch_logs.put_query_definition(
            name=f"{profile.name}/errors{group}",
            logGroupNames=[group],
            queryString="fields @timestamp, @message | filter @message like /(?i)error/ | sort @timestamp desc",
        )
    write_application_logs(client, profile, "started")
    if alarm_topic_arn:
        client("sns").subscribe(TopicArn=alarm_topic_arn, Protocol="email", Endpoint=ON_CALL)


# CloudFront's managed policies, by id (the same in every account).
SECURITY_HEADERS_POLICY = "67f7725c-6f97-4210-82d7-5512b31e9d03"
CACHING_OPTIMIZED_POLICY = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED_POLICY = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
LOG_STREAM = "app/acme-api/local"


def _located(s3: Any) -> dict[str, Any]:
    """Where S3 makes a bucket: outside us-east-1, the region must be named."""
    region = s3.meta.region_name
    return {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}


def _web_acl(client: ClientFactory, scope: str, name: str) -> str:
    visibility = {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": name}
    return str(
        client("wafv2@cloudfront" if scope == "CLOUDFRONT" else "wafv2").create_web_acl(
            Name=name,
            Scope=scope,
            DefaultAction={"Allow": {}},
            VisibilityConfig=visibility,
            Rules=[
                {
                    "Name": "per-ip-rate",
                    "Priority": 0,
                    "Statement": {"RateBasedStatement": {"Limit": 2000, "AggregateKeyType": "IP"}},
                    "Action": {"Block": {}},
                    "VisibilityConfig": {**visibility, "MetricName": f"{name}-rate"},
                }
            ],
        )["Summary"]["ARN"]
    )


def protect_the_edge(client: ClientFactory, profile: EnvironmentProfile, balancer_arn: str) -> None:
    """Rate-limiting WAF web ACLs on the distribution and the load balancer, Shield Advanced on both, and the
    distribution's behaviours: the managed security-headers policy, compression, fingerprinted assets cached."""
    edge = _web_acl(client, "CLOUDFRONT", f"{profile.preflight.load_balancer}-edge")
    regional = _web_acl(client, "REGIONAL", f"{profile.preflight.load_balancer}-regional")
    client("wafv2").associate_web_acl(WebACLArn=regional, ResourceArn=balancer_arn)
    assets = profile.preflight.hashed_assets_path

    def behaviours(config: dict[str, Any]) -> None:
        config["WebACLId"] = edge
        default = config["DefaultCacheBehavior"]
        default.update(Compress=True, ResponseHeadersPolicyId=SECURITY_HEADERS_POLICY)
        asset_behaviour = {
            **{key: value for key, value in default.items() if key not in {"ForwardedValues", "MinTTL"}},
            "PathPattern": assets,
            "CachePolicyId": CACHING_OPTIMIZED_POLICY,
        }
        config["CacheBehaviors"] = {"Quantity": 1, "Items": [asset_behaviour]}

    _change_distribution(behaviours)(client, profile)
    account = client("sts").get_caller_identity()["Account"]
    shield = client("shield")
    distribution = f"arn:aws:cloudfront::{account}:distribution/{profile.frontend.distribution_id}"
    for name, arn in (("site", distribution), ("load-balancer", balancer_arn)):
        shield.create_protection(Name=f"{profile.name}-{name}", ResourceArn=arn)


def write_application_logs(client: ClientFactory, profile: EnvironmentProfile, message: str) -> None:
    """What the application's containers and the database write: one event in each of its log groups."""
    import time

    logs = client("logs")
    moment = int(time.time() * 1000)
    for group in profile.preflight.log_groups:
        logs.put_log_events(
            logGroupName=group, logStreamName=LOG_STREAM, logEvents=[{"timestamp": moment, "message": message}]
        )


def secrets_value(name: str) -> str:
    """A random local-only value: preflight never reads it, the sample site never needs it."""
    import secrets

    return json.dumps({"name": name, "value": secrets.token_urlsafe(24)})


@functools.cache
def _certificate_key() -> Any:
    """One key per process for the self-signed certificates, ECDSA P-256 (CloudFront takes it as it takes
    RSA 2048): every environment the tests make imports a certificate, and ACM's import reads the key back,
    which for an RSA key costs a tenth of a second each time."""
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def import_certificate(client: ClientFactory, domain: str, days: int = 90, service: str = "acm@cloudfront") -> str:
    """A self-signed certificate for the domain, imported into ACM (issued, valid `days` from now)."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = _certificate_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    moment = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - timedelta(days=1))
        .not_valid_after(moment + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    imported = client(service).import_certificate(
        Certificate=certificate.public_bytes(serialization.Encoding.PEM),
        PrivateKey=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ),
    )
    return str(imported["CertificateArn"])


def serve_domain(client: ClientFactory, distribution_id: str, domain: str, certificate_arn: str) -> None:
    """Give the distribution its custom domain and certificate, HTTPS-only viewers and a current TLS."""
    cloudfront = client("cloudfront")
    current = cloudfront.get_distribution_config(Id=distribution_id)
    config = current["DistributionConfig"]
    config["Aliases"] = {"Quantity": 1, "Items": [domain]}
    config["ViewerCertificate"] = {
        "ACMCertificateArn": certificate_arn,
        "SSLSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
        "CloudFrontDefaultCertificate": False,
    }
    cloudfront.update_distribution(Id=distribution_id, IfMatch=current["ETag"], DistributionConfig=config)


# -- breaking one checklist item on purpose (`launchctl local --break CHECK_ID`, the preflight tests) ----------

# Items that, once broken, stay broken in releases published afterwards (the account's state says so).
RELEASE_DEFECTS = frozenset({"app.bundle_budget", "app.image_in_ecr", "app.image_scan"})
# Items whose source is not the account but the local GitHub: the stack breaks them there (a required
# check of every commit fails until repaired).
GITHUB_ITEMS = frozenset({"app.release_tests"})
FAILING_RELEASE_TEST = "e2e-tests"
OVERSIZED_KB = 600


def _vpc_id(client: ClientFactory, profile: EnvironmentProfile) -> str:
    vpcs = client("ec2").describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [profile.preflight.vpc]}])["Vpcs"]
    return str(vpcs[0]["VpcId"])


def _lose_internet_routes(client: ClientFactory, profile: EnvironmentProfile) -> None:
    ec2 = client("ec2")
    vpc = _vpc_id(client, profile)
    for table in ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]:
        if any(str(route.get("GatewayId", "")).startswith("igw-") for route in table["Routes"]):
            ec2.delete_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")


def _delete_nat_gateways(client: ClientFactory, profile: EnvironmentProfile) -> None:
    ec2 = client("ec2")
    filters = [{"Name": "vpc-id", "Values": [_vpc_id(client, profile)]}]
    for gateway in ec2.describe_nat_gateways(Filters=filters)["NatGateways"]:
        ec2.delete_nat_gateway(NatGatewayId=gateway["NatGatewayId"])


def _open_database_port(client: ClientFactory, profile: EnvironmentProfile) -> None:
    ec2 = client("ec2")
    filters = [{"Name": "vpc-id", "Values": [_vpc_id(client, profile)]}, {"Name": "group-name", "Values": ["acme-db"]}]
    group = ec2.describe_security_groups(Filters=filters)["SecurityGroups"][0]["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}],
    )


def _no_production_rule(client: ClientFactory, profile: EnvironmentProfile) -> None:
    """The service's blue/green set-up without the production listener rule ECS would move the traffic with."""
    ecs = client("ecs")
    service = ecs.describe_services(cluster=profile.backend.cluster, services=[profile.backend.service])["services"][0]
    balancers = [
        {
            **balancer,
            "advancedConfiguration": {
                key: value
                for key, value in balancer.get("advancedConfiguration", {}).items()
                if key != "productionListenerRule"
            },
        }
        for balancer in service["loadBalancers"]
    ]
    ecs.update_service(cluster=profile.backend.cluster, service=profile.backend.service, loadBalancers=balancers)


def _change_distribution(
    change: Callable[[dict[str, Any]], None],
) -> Callable[[ClientFactory, EnvironmentProfile], None]:
    def breaker(client: ClientFactory, profile: EnvironmentProfile) -> None:
        cloudfront = client("cloudfront")
        current = cloudfront.get_distribution_config(Id=profile.frontend.distribution_id)
        config = current["DistributionConfig"]
        change(config)
        cloudfront.update_distribution(
            Id=profile.frontend.distribution_id, IfMatch=current["ETag"], DistributionConfig=config
        )

    return breaker


def _expiring_certificate(client: ClientFactory, profile: EnvironmentProfile) -> None:
    arn = import_certificate(client, SITE_DOMAIN, days=10)
    _change_distribution(lambda config: config["ViewerCertificate"].update(ACMCertificateArn=arn))(client, profile)


def _modify_database(**change: Any) -> Callable[[ClientFactory, EnvironmentProfile], None]:
    def breaker(client: ClientFactory, profile: EnvironmentProfile) -> None:
        client("rds").modify_db_instance(
            DBInstanceIdentifier=profile.database.instance_id, ApplyImmediately=True, **change
        )

    return breaker


def _unencrypted_database(client: ClientFactory, profile: EnvironmentProfile) -> None:
    # Encryption cannot be changed through the API (on AWS either); the emulated instance is edited directly.
    from moto.rds.models import rds_backends

    rds_backends[client("sts").get_caller_identity()["Account"]][REGION].databases[
        profile.database.instance_id
    ].storage_encrypted = False


def _database_in_a_cluster(client: ClientFactory, profile: EnvironmentProfile) -> None:
    # An instance cannot join a cluster through the API: the emulated instance is edited to be an Aurora member.
    from moto.rds.models import rds_backends

    account = client("sts").get_caller_identity()["Account"]
    rds_backends[account][REGION].databases[profile.database.instance_id].db_cluster_identifier = AURORA_CLUSTER


def _database_alone(client: ClientFactory, profile: EnvironmentProfile) -> None:
    from moto.rds.models import rds_backends

    account = client("sts").get_caller_identity()["Account"]
    rds_backends[account][REGION].databases[profile.database.instance_id].db_cluster_identifier = None


AURORA_CLUSTER = "acme-aurora"


def _pipeline_trust(principal: dict[str, Any]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
        }
    )


def _release_pipeline_roles(client: ClientFactory, profile: EnvironmentProfile) -> None:
    """The workloads the profile lets start launches, in the environment's account: roles only CodeBuild may
    assume (a release pipeline's)."""
    for listed in profile.callers.iam_principals:
        if ":role/" in listed and listed.split(":")[4] == profile.target.account_id:
            client("iam").create_role(
                RoleName=listed.rsplit("/", 1)[-1],
                AssumeRolePolicyDocument=_pipeline_trust({"Service": "codebuild.amazonaws.com"}),
            )


def _pipeline_people_may_assume(client: ClientFactory, profile: EnvironmentProfile) -> None:
    account = client("sts").get_caller_identity()["Account"]
    for role in _pipeline_role_names(profile):
        client("iam").update_assume_role_policy(
            RoleName=role, PolicyDocument=_pipeline_trust({"AWS": f"arn:aws:iam::{account}:root"})
        )
    _forget_roles()


def _pipeline_codebuild_only(client: ClientFactory, profile: EnvironmentProfile) -> None:
    for role in _pipeline_role_names(profile):
        client("iam").update_assume_role_policy(
            RoleName=role, PolicyDocument=_pipeline_trust({"Service": "codebuild.amazonaws.com"})
        )
    _forget_roles()


def _pipeline_role_names(profile: EnvironmentProfile) -> list[str]:
    return [
        listed.rsplit("/", 1)[-1]
        for listed in profile.callers.iam_principals
        if ":role/" in listed and listed.split(":")[4] == profile.target.account_id
    ]


def _forget_roles() -> None:
    """What IAM's answer a container keeps for five minutes; the change is seen at once here (the local
    functions share this process's containers)."""
    from chalicelib.platform import roles
    from chalicelib.platform.runtime import PROCESS, running

    with running(PROCESS):
        roles.forget()


def _site_on_a_customer_key(client: ClientFactory, profile: EnvironmentProfile) -> None:
    key = client("kms").create_key(Description="acme's own key for the site")["KeyMetadata"]["Arn"]
    client("s3").put_bucket_encryption(
        Bucket=profile.frontend.site_bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]
        },
    )


def _site_on_s3s_key(client: ClientFactory, profile: EnvironmentProfile) -> None:
    client("s3").put_bucket_encryption(
        Bucket=profile.frontend.site_bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )


def _balancer(client: ClientFactory, profile: EnvironmentProfile) -> tuple[Any, str, list[dict[str, Any]]]:
    elb = client("elbv2")
    arn = elb.describe_load_balancers(Names=[profile.preflight.load_balancer])["LoadBalancers"][0]["LoadBalancerArn"]
    return elb, arn, elb.describe_listeners(LoadBalancerArn=arn)["Listeners"]


def _old_tls_policy(client: ClientFactory, profile: EnvironmentProfile) -> None:
    elb, _, listeners = _balancer(client, profile)
    https = next(item for item in listeners if item["Protocol"] == "HTTPS")
    elb.modify_listener(ListenerArn=https["ListenerArn"], SslPolicy="ELBSecurityPolicy-2016-08")


def _http_forwards(client: ClientFactory, profile: EnvironmentProfile) -> None:
    elb, _, listeners = _balancer(client, profile)
    https = next(item for item in listeners if item["Protocol"] == "HTTPS")
    plain = next(item for item in listeners if item["Protocol"] == "HTTP")
    elb.modify_listener(ListenerArn=plain["ListenerArn"], DefaultActions=https["DefaultActions"])


def _no_access_logs(client: ClientFactory, profile: EnvironmentProfile) -> None:
    elb, arn, _ = _balancer(client, profile)
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=arn, Attributes=[{"Key": "access_logs.s3.enabled", "Value": "false"}]
    )


def _no_targets(client: ClientFactory, profile: EnvironmentProfile) -> None:
    elb, arn, _ = _balancer(client, profile)
    for group in elb.describe_target_groups(LoadBalancerArn=arn)["TargetGroups"]:
        health = elb.describe_target_health(TargetGroupArn=group["TargetGroupArn"])["TargetHealthDescriptions"]
        elb.deregister_targets(TargetGroupArn=group["TargetGroupArn"], Targets=[item["Target"] for item in health])


def _delete_secret(role: str) -> Callable[[ClientFactory, EnvironmentProfile], None]:
    def breaker(client: ClientFactory, profile: EnvironmentProfile) -> None:
        name = getattr(profile.preflight.secrets, role)
        client("secretsmanager").delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)

    return breaker


def _delete_alarm(client: ClientFactory, profile: EnvironmentProfile) -> None:
    client("cloudwatch").delete_alarms(AlarmNames=profile.bake.alarm_names[:1])


def _fire_alarm(client: ClientFactory, profile: EnvironmentProfile) -> None:
    client("cloudwatch").set_alarm_state(
        AlarmName=profile.bake.alarm_names[0], StateValue="ALARM", StateReason="broken on purpose"
    )


def _no_retention(client: ClientFactory, profile: EnvironmentProfile) -> None:
    client("logs").delete_retention_policy(logGroupName=profile.preflight.log_groups[0])


def _nobody_subscribed(client: ClientFactory, profile: EnvironmentProfile) -> None:
    sns = client("sns")
    for subscription in sns.list_subscriptions()["Subscriptions"]:
        if subscription["Endpoint"] == ON_CALL:
            sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])


def _oversized_bundles(client: ClientFactory, profile: EnvironmentProfile) -> None:
    s3 = client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=ARTIFACT_BUCKET, Prefix="releases/"):
        for prefix in {item["Key"].split("/")[1] for item in page.get("Contents", [])}:
            s3.put_object(Bucket=ARTIFACT_BUCKET, Key=f"releases/{prefix}/assets/app.vendor.js", Body=_oversized())


def _oversized() -> bytes:
    return b"/* vendored */" + b" " * (OVERSIZED_KB * 1024)


def _images_gone(client: ClientFactory, profile: EnvironmentProfile) -> None:
    ecr = client("ecr")
    images = ecr.list_images(repositoryName=ECR_REPOSITORY)["imageIds"]
    if images:
        ecr.batch_delete_image(repositoryName=ECR_REPOSITORY, imageIds=images)


def _service_gone(client: ClientFactory, profile: EnvironmentProfile) -> None:
    client("ecs").delete_service(cluster=profile.backend.cluster, service=profile.backend.service, force=True)


def _no_rate_limit(client: ClientFactory, profile: EnvironmentProfile) -> None:
    """The load balancer loses its web ACL."""
    elb = client("elbv2")
    balancer = elb.describe_load_balancers(Names=[profile.preflight.load_balancer])["LoadBalancers"][0]
    client("wafv2").disassociate_web_acl(ResourceArn=balancer["LoadBalancerArn"])


def _unprotected(client: ClientFactory, profile: EnvironmentProfile) -> None:
    shield = client("shield")
    for protection in shield.list_protections()["Protections"]:
        if protection["Name"].startswith(f"{profile.name}-"):
            shield.delete_protection(ProtectionId=protection["Id"])


def _open_cors(client: ClientFactory, profile: EnvironmentProfile) -> None:
    """Any origin may write to the site bucket."""
    rule = {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "PUT", "DELETE"], "AllowedHeaders": ["*"]}
    client("s3").put_bucket_cors(Bucket=profile.frontend.site_bucket, CORSConfiguration={"CORSRules": [rule]})


def _quiet_logs(client: ClientFactory, profile: EnvironmentProfile) -> None:
    """The application stopped logging: its streams' last events are an hour old."""
    import time

    logs = client("logs")
    group = profile.preflight.log_groups[0]
    logs.delete_log_stream(logGroupName=group, logStreamName=LOG_STREAM)
    logs.create_log_stream(logGroupName=group, logStreamName=LOG_STREAM)
    old = int((time.time() - 3600) * 1000)
    logs.put_log_events(logGroupName=group, logStreamName=LOG_STREAM, logEvents=[{"timestamp": old, "message": "x"}])


def _queries_gone(client: ClientFactory, profile: EnvironmentProfile) -> None:
    logs = client("logs")
    for definition in logs.describe_query_definitions(queryDefinitionNamePrefix=f"{profile.name}/")["queryDefinitions"]:
        logs.delete_query_definition(queryDefinitionId=definition["queryDefinitionId"])


def _password_in_task_definition(client: ClientFactory, profile: EnvironmentProfile) -> None:
    """A new revision of the service's task definition carries the database password as a plain variable."""
    ecs = client("ecs")
    backend = profile.backend
    service = ecs.describe_services(cluster=backend.cluster, services=[backend.service])["services"][0]
    current = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    containers = [
        {**c, "environment": [*c.get("environment", []), {"name": "DATABASE_PASSWORD", "value": "hunter2"}]}
        for c in current["containerDefinitions"]
    ]
    kept = {
        k: current[k] for k in ("family", "networkMode", "requiresCompatibilities", "cpu", "memory") if k in current
    }
    roles = {k: current[k] for k in ("taskRoleArn", "executionRoleArn") if k in current}
    revision = ecs.register_task_definition(**kept, **roles, containerDefinitions=containers)["taskDefinition"]
    ecs.update_service(cluster=backend.cluster, service=backend.service, taskDefinition=revision["taskDefinitionArn"])


# The environment role's trust as the target-account stack made it, while it is broken on purpose.
_KEPT_TRUST: dict[str, str] = {}


def _distrust_the_controller(client: ClientFactory, profile: EnvironmentProfile) -> None:
    """The environment's role trusts its own account only: the controller's next session is refused (one it
    holds lasts until it expires, as on AWS)."""
    iam = client("iam")
    name = profile.target.role_arn.rsplit("/", 1)[-1]
    _KEPT_TRUST.setdefault(name, json.dumps(iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]))
    own = {"AWS": f"arn:aws:iam::{profile.target.account_id}:root"}
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": own, "Action": "sts:AssumeRole"}]}
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))


def _trust_the_controller_again(client: ClientFactory, profile: EnvironmentProfile) -> None:
    name = profile.target.role_arn.rsplit("/", 1)[-1]
    if name in _KEPT_TRUST:
        client("iam").update_assume_role_policy(RoleName=name, PolicyDocument=_KEPT_TRUST.pop(name))


BREAKERS: dict[str, Callable[[ClientFactory, EnvironmentProfile], None]] = {
    "access.environment_role": _distrust_the_controller,
    "network.subnets": _lose_internet_routes,
    "network.nat_gateways": _delete_nat_gateways,
    "network.database_ports_closed": _open_database_port,
    "s3.site_versioning": lambda client, profile: client("s3").put_bucket_versioning(
        Bucket=profile.frontend.site_bucket, VersioningConfiguration={"Status": "Suspended"}
    ),
    "s3.backup_bucket": lambda client, profile: client("s3").delete_bucket(Bucket=profile.frontend.backup_bucket),
    "s3.noncurrent_expiry": lambda client, profile: client("s3").delete_bucket_lifecycle(
        Bucket=profile.frontend.site_bucket
    ),
    "cloudfront.enabled": _change_distribution(lambda config: config.update(Enabled=False)),
    "cloudfront.custom_domain": _change_distribution(lambda config: config.update(Aliases={"Quantity": 0})),
    "cloudfront.release_router": _change_distribution(
        lambda config: config["DefaultCacheBehavior"].update(FunctionAssociations={"Quantity": 0})
    ),
    "cloudfront.certificate": _expiring_certificate,
    "cloudfront.https_only": _change_distribution(
        lambda config: config["DefaultCacheBehavior"].update(ViewerProtocolPolicy="allow-all")
    ),
    "cloudfront.minimum_tls": _change_distribution(
        lambda config: config["ViewerCertificate"].update(MinimumProtocolVersion="TLSv1")
    ),
    "rds.multi_az": _modify_database(MultiAZ=False),
    "rds.backup_retention": _modify_database(BackupRetentionPeriod=7),
    "rds.performance_insights": _modify_database(EnablePerformanceInsights=False),
    "rds.storage_encrypted": _unencrypted_database,
    "rds.instance_snapshots": _database_in_a_cluster,
    "callers.workloads": _pipeline_people_may_assume,
    "s3.bucket_keys": _site_on_a_customer_key,
    "rds.not_public": _modify_database(PubliclyAccessible=True),
    "rds.deletion_protection": _modify_database(DeletionProtection=False),
    "elb.https_tls13": _old_tls_policy,
    "elb.http_redirect": _http_forwards,
    "elb.access_logs": _no_access_logs,
    "elb.targets_healthy": _no_targets,
    "ecs.traffic_shifting": _no_production_rule,
    "secrets.database_password": _delete_secret("database_password"),
    "secrets.jwt_secret": _delete_secret("jwt_secret"),
    "secrets.github_oauth": _delete_secret("github_oauth"),
    "monitoring.alarms": _delete_alarm,
    "monitoring.no_alarm_firing": _fire_alarm,
    "monitoring.dashboard": lambda client, profile: client("cloudwatch").delete_dashboards(
        DashboardNames=[profile.preflight.dashboard]
    ),
    "monitoring.log_retention": _no_retention,
    "monitoring.notifications_subscribed": _nobody_subscribed,
    "app.bundle_budget": _oversized_bundles,
    "app.image_scan": lambda client, profile: None,  # a release defect: the next release's image is vulnerable
    "security.rate_limiting": _no_rate_limit,
    "security.shield_advanced": _unprotected,
    "security.headers": _change_distribution(
        lambda config: config["DefaultCacheBehavior"].pop("ResponseHeadersPolicyId", None)
    ),
    "security.cors": _open_cors,
    "cdn.cache_behaviours": _change_distribution(
        lambda config: config["CacheBehaviors"]["Items"][0].update(CachePolicyId=CACHING_DISABLED_POLICY)
    ),
    "monitoring.logs_streaming": _quiet_logs,
    "monitoring.insights_queries": _queries_gone,
    "security.task_secrets": _password_in_task_definition,
    "app.image_in_ecr": _images_gone,
    "ecs.service_active": _service_gone,
}


def _vendored_bundles_gone(client: ClientFactory, profile: EnvironmentProfile) -> None:
    s3 = client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=ARTIFACT_BUCKET, Prefix="releases/"):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/assets/app.vendor.js"):
                s3.delete_object(Bucket=ARTIFACT_BUCKET, Key=item["Key"])


# How to put back what a breaker broke, for the items tests break on a shared stack and must leave whole.
REPAIRS: dict[str, Callable[[ClientFactory, EnvironmentProfile], None]] = {
    "rds.instance_snapshots": _database_alone,
    "callers.workloads": _pipeline_codebuild_only,
    "s3.bucket_keys": _site_on_s3s_key,
    "access.environment_role": _trust_the_controller_again,
    "s3.noncurrent_expiry": expire_old_versions,
    "s3.site_versioning": lambda client, profile: client("s3").put_bucket_versioning(
        Bucket=profile.frontend.site_bucket, VersioningConfiguration={"Status": "Enabled"}
    ),
    "monitoring.log_retention": lambda client, profile: client("logs").put_retention_policy(
        logGroupName=profile.preflight.log_groups[0], retentionInDays=30
    ),
    "monitoring.no_alarm_firing": lambda client, profile: client("cloudwatch").set_alarm_state(
        AlarmName=profile.bake.alarm_names[0], StateValue="OK", StateReason="repaired"
    ),
    "app.bundle_budget": _vendored_bundles_gone,
    "security.cors": lambda client, profile: client("s3").delete_bucket_cors(Bucket=profile.frontend.site_bucket),
    # Releases published from now on scan clean (a vulnerable one published meanwhile stays so, as in ECR).
    "app.image_scan": lambda client, profile: None,
    "monitoring.logs_streaming": lambda client, profile: write_application_logs(client, profile, "repaired"),
}
