"""Where moto 5.2.5 answers differently from AWS in ways the controller relies on, make it answer as AWS does.

Each fix is checked against AWS's documented behaviour; the product code stays what runs on AWS."""

from __future__ import annotations

import json
from typing import Any

from localaws import aws_limits, key_value_store, service_revisions

_applied = False
_judging_trust = False
# The managed policies an assumed-role session was limited to (AssumeRole's PolicyArns), by its access key.
_session_policies: dict[str, list[str]] = {}


def apply() -> None:
    """Patch moto in this process (the local stack runs moto in-process); safe to call again."""
    global _applied
    if not _applied:
        _invalidations_as_aws_answers()
        _transactions_isolated()
        _dynamodb_answers_as_it_has_them()
        _presigned_caller_identity()
        _performance_insights()
        _role_policies_as_json()
        _key_policies_as_json()
        _key_specs_from_templates()
        _moved_tags_leave_their_image()
        _signing_judged_by_key_policy()
        _percentiles()
        _query_definitions()
        _parameter_versions_name_who_pushed()
        _assume_role_judged_by_trust()
        _empty_posts_signed_as_sent()
        _queries_read_their_partition()
        _backend_names_listed_once()
        _definitions_parsed_once()
        _state_machines_read_s3_as_their_role()
        _composite_alarms()
        _event_bus_refs()
        key_value_store.install()
        service_revisions.install()
        _function_associations_kept()
        _no_value_leaves_lists()
        aws_limits.apply()  # after the fixes above: what AWS refuses is refused before they answer
        _applied = True
    _tasks_run_until_stopped()  # moto's reset forgets it


def _no_value_leaves_lists() -> None:
    """AWS::NoValue in a list removes the item, as CloudFormation does (moto leaves a null there: a policy
    whose optional statement is left out becomes a statement list with a null, which IAM calls malformed)."""
    from moto.cloudformation import parsing

    original = parsing.clean_json

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, list):
            cleaned = (clean_json(item, resources_map) for item in resource_json)
            return [item for item in cleaned if item is not None]
        return original(resource_json, resources_map)

    parsing.clean_json = clean_json


def _function_associations_kept() -> None:
    """A cache behaviour keeps the CloudFront Functions associated with it (moto answers none, always), so
    preflight can see the release router on the distribution."""
    from moto.cloudfront.models import DefaultCacheBehaviour

    original = DefaultCacheBehaviour.__init__

    def init(self: Any, config: dict[str, Any]) -> None:
        original(self, config)
        associations = config.get("FunctionAssociations") or {}
        if associations.get("Quantity"):
            self.function_associations = associations

    DefaultCacheBehaviour.__init__ = init  # type: ignore[method-assign]


def _empty_posts_signed_as_sent() -> None:
    """moto checks a signature over the request it rebuilds; for a POST without a body (a REST API's action,
    Synthetics' StartCanary) it rebuilds one from the headers and refuses the caller's correct signature
    (SignatureDoesNotMatch). AWS signs and checks the empty body that was sent."""
    from botocore.awsrequest import AWSRequest
    from moto.iam.access_control import IAMRequestBase

    original = IAMRequestBase._create_aws_request

    def create_aws_request(self: Any) -> AWSRequest:
        request = original(self)
        content_type = next((v for k, v in self._headers.items() if k.lower() == "content-type"), "")
        if self._method == "POST" and not self._body and "form-urlencoded" not in content_type:
            request.data = b""  # a query API's form body is parsed away before this; its params are its body
        return request

    IAMRequestBase._create_aws_request = create_aws_request  # type: ignore[method-assign]


def _invalidations_as_aws_answers() -> None:
    """CloudFront says "Completed" (moto: "COMPLETED", which the invalidation_completed waiter never
    accepts), and a repeated CallerReference returns the first invalidation instead of a new one."""
    from moto.cloudfront.models import CloudFrontBackend

    original = CloudFrontBackend.create_invalidation

    def create_invalidation(self: Any, dist_id: str, paths: list[str], caller_ref: str) -> Any:
        for existing in self.invalidations.get(dist_id, []):
            if existing.caller_ref == caller_ref:
                return existing
        invalidation = original(self, dist_id, paths, caller_ref)
        invalidation.status = "Completed"
        return invalidation

    CloudFrontBackend.create_invalidation = create_invalidation  # type: ignore[method-assign]


def _transactions_isolated() -> None:
    """moto's DynamoDB is not safe across threads: a transaction copies the whole table and puts the copy
    back when it fails (wiping what a concurrent write did meanwhile), and a query iterating a table while
    another thread writes to it fails with "dictionary changed size during iteration". So does the
    handler turning an item into its answer (`to_json`, outside the backend) while another request
    updates that item in place. DynamoDB applies each request atomically and isolates transactions:
    serialise every request, from parsing it to its answer, and every call to the backend."""
    import functools
    import inspect
    import threading

    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()

    def serialised(method: Any) -> Any:
        @functools.wraps(method)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(self, *args, **kwargs)

        return call

    _transactions_back_up_their_items()
    for name, method in inspect.getmembers(DynamoDBBackend, inspect.isfunction):
        if not name.startswith("_") and name in DynamoDBBackend.__dict__:
            setattr(DynamoDBBackend, name, serialised(method))
    DynamoHandler.call_action = serialised(DynamoHandler.call_action)  # type: ignore[method-assign]


def _transactions_back_up_their_items() -> None:
    """Speed, not behaviour: to undo a cancelled transaction, moto deep-copies every table it names, so
    each transaction cost as much as the whole table (which grows with every launch a test run makes).
    Back up only the items the transaction names, and put those back when it is cancelled; with every
    request serialised (above), nothing else can have written them in between."""
    import copy

    import moto.dynamodb.models as models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class TablesKeptInPlace:
        """Stands in for the `copy` module inside moto's DynamoDB backend: its transaction's table backup
        is the table itself; any other copy is a real one."""

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    models.copy = TablesKeptInPlace  # type: ignore[assignment,attr-defined]
    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backups = []
        for entry in transact_items:
            operation: Any = next(iter(entry.values()), {})
            table = self.tables.get(operation.get("TableName")) if isinstance(operation, dict) else None
            key = (operation.get("Key") or operation.get("Item") or {}) if table else {}
            if table is None or table.hash_key_attr not in key:
                continue  # moto refuses this entry itself, before writing anything
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
            current = (
                table.get_item(hash_value, range_value) if table.has_range_key == (range_value is not None) else None
            )
            backups.append((table, hash_value, range_value, copy.deepcopy(current)))
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_value, range_value, item in reversed(backups):
                items = table.items[hash_value] if range_value is not None else table.items
                kept = range_value if range_value is not None else hash_value
                if item is None:
                    items.pop(kept, None)
                else:
                    items[kept] = item
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _dynamodb_answers_as_it_has_them() -> None:
    """Speed, not behaviour: moto serialises each DynamoDB answer through botocore's output shapes, value
    by value, which was most of the CPU a local launch used. Its DynamoDB results are already in the
    wire format (`{"S": ...}`), so they are sent as JSON; anything JSON cannot carry as it is (binary
    values, timestamps) still goes through moto's serialiser."""
    import json

    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    original = DynamoHandler.serialized

    def without_nulls(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: without_nulls(item) for key, item in value.items() if item is not None}
        if isinstance(value, list):
            return [without_nulls(item) for item in value]
        return value

    def serialized(self: Any, action_result: Any) -> Any:
        if type(action_result) is DynamoResult and isinstance(action_result.result, dict):
            try:
                body = json.dumps(without_nulls(action_result.result))
            except TypeError:
                return original(self, action_result)
            return 200, {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}, body
        return original(self, action_result)

    DynamoHandler.serialized = serialized  # type: ignore[method-assign]


def _queries_read_their_partition() -> None:
    """Speed, not behaviour: moto's Query sorts every item of the table before it looks at the key, so each
    query cost the table's size (the timeline table of a session's launches: a fifth of a local stack's
    CPU). Query sorts what matches by the full key afterwards, so the items it looks at need no order; a
    query by the table's own key looks at its partition alone, as DynamoDB does. Scan keeps moto's order
    (its pages follow it)."""
    import inspect
    import threading

    from moto.dynamodb.models.table import Table

    querying = threading.local()
    all_items, query = Table.all_items, Table.query
    signature = inspect.signature(query)

    def items_of(self: Any) -> Any:
        asked = getattr(querying, "asked", None)
        if asked is None or asked[0] is not self:
            return all_items(self)
        hash_key, index_name = asked[1], asked[2]
        if index_name is None and self.range_key_attr and hash_key is not None:
            return list(self.items.get(hash_key, {}).values())
        if self.range_key_attr:
            return [item for partition in self.items.values() for item in partition.values()]
        return list(self.items.values())

    def query_of(self: Any, *args: Any, **kwargs: Any) -> Any:
        asked = signature.bind(self, *args, **kwargs).arguments
        querying.asked = (self, asked.get("hash_key"), asked.get("index_name"))
        try:
            return query(self, *args, **kwargs)
        finally:
            querying.asked = None

    Table.all_items = items_of  # type: ignore[method-assign]
    Table.query = query_of  # type: ignore[method-assign]


def _backend_names_listed_once() -> None:
    """Speed, not behaviour: moto's server lists its package's folders on disk for every request it routes
    (a listdir and an isdir per service); they do not change while it runs."""
    from moto import backends

    names = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: names


def _definitions_parsed_once() -> None:
    """Speed, not behaviour: moto's Step Functions parses the state machine's definition again for every
    execution it starts (a fifth of a second of CPU for the launch machine). The syntax tree depends on
    the text alone and the parser only reads it, so it is kept per definition; each execution still gets
    its own states, built afresh from the tree, as before."""
    import threading

    from moto.stepfunctions.parser.asl.parse import asl_parser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    trees: dict[str, Any] = {}
    lock = threading.Lock()
    parse = asl_parser.AmazonStateLanguageParser.parse

    def parse_once(definition: str) -> tuple[Any, Any]:
        with lock:
            tree = trees.get(definition)
        if tree is None:
            program, tree = parse(definition)  # syntax errors are raised here, as moto raises them
            with lock:
                if len(trees) >= 16:  # a handful of machines per stack; a bound all the same
                    trees.clear()
                trees[definition] = tree
            return program, tree
        return Preprocessor().visit(tree), tree

    asl_parser.AmazonStateLanguageParser.parse = staticmethod(parse_once)  # type: ignore[method-assign]


def _state_machines_read_s3_as_their_role() -> None:
    """A Distributed Map's ItemReader (and ResultWriter) call S3 as the state machine's role, as Step Functions
    does; moto's interpreter signs them with a made-up key, which the stack's IAM refuses. Here they carry that
    role's session, so its policy decides, as on AWS."""
    import boto3
    from botocore.config import Config
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval import (
        resource_eval_s3 as reader,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
        resource_eval_s3 as writer,
    )

    def as_role(region: str, service: str, state_credentials: Any = None) -> Any:
        role_arn = getattr(state_credentials, "role_arn", None)
        if not role_arn:
            raise ValueError("a state machine's S3 call without the state machine's role")
        keys = lambda_service_credentials(role_arn.split(":")[4], role_arn, "states")
        return boto3.client(
            service,
            region_name=region or "us-east-1",
            endpoint_url=f"http://localhost:{moto_server_port()}",
            aws_access_key_id=keys["AccessKeyId"],
            aws_secret_access_key=keys["SecretAccessKey"],
            aws_session_token=keys["SessionToken"],
            config=Config(retries={"max_attempts": 0, "total_max_attempts": 1}),
        )

    reader.boto_client_for = as_role  # type: ignore[attr-defined]
    writer.boto_client_for = as_role  # type: ignore[attr-defined]


def _role_policies_as_json() -> None:
    """moto's CloudFormation keeps a role's inline policy as the template's dict, which its policy engine
    and GetRolePolicy read as Python's rendering of it; IAM keeps every policy as its JSON."""
    import json

    from moto.iam.models import Role

    original = Role.put_policy

    def put_policy(self: Any, policy_name: str, policy_json: Any) -> None:
        original(self, policy_name, json.dumps(policy_json) if isinstance(policy_json, dict) else policy_json)

    Role.put_policy = put_policy  # type: ignore[method-assign]


def _key_policies_as_json() -> None:
    """moto's CloudFormation keeps a KMS key's KeyPolicy as the template's dict, which GetKeyPolicy and
    DescribeKey then fail on; KMS keeps a key policy as its JSON (CloudFormation accepts either)."""
    import json

    from moto.kms.models import KmsBackend

    original = KmsBackend.create_key

    def create_key(self: Any, policy: Any, *args: Any, **kwargs: Any) -> Any:
        return original(self, json.dumps(policy) if isinstance(policy, dict) else policy, *args, **kwargs)

    KmsBackend.create_key = create_key  # type: ignore[method-assign]


def _key_specs_from_templates() -> None:
    """moto's CloudFormation makes every AWS::KMS::Key a symmetric encryption key, whatever its KeySpec and
    KeyUsage say; CloudFormation makes the key they describe (an ECC_NIST_P256 key for signing)."""
    from moto.kms.models import Key, kms_backends

    def create(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kw: Any
    ) -> Any:
        properties = cloudformation_json["Properties"]
        key = kms_backends[account_id][region_name].create_key(
            policy=properties["KeyPolicy"],
            key_usage=properties.get("KeyUsage", "ENCRYPT_DECRYPT"),
            key_spec=properties.get("KeySpec", "SYMMETRIC_DEFAULT"),
            description=properties.get("Description"),
            tags=properties.get("Tags", []),
        )
        if properties.get("EnableKeyRotation", False):
            from moto.cloudformation.exceptions import ValidationError
            from moto.core.exceptions import JsonRESTError

            try:
                aws_limits.rotation_allowed(key)
            except JsonRESTError as refused:  # the stack fails with KMS's message, in CloudFormation's error
                raise ValidationError(message=refused.message) from None
        key.key_rotation_status = properties.get("EnableKeyRotation", False)
        key.enabled = properties.get("Enabled", True)
        return key

    Key.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment,arg-type]


def _moved_tags_leave_their_image() -> None:
    """A tag pushed again with another image moves to it; the image it named stays in ECR, untagged, and can
    still be pulled by its digest (moto deletes it). A launch pins its image's digest: it must stay. And an
    image's digest is its manifest's, as a registry computes it."""
    from moto.ecr.models import ECRBackend

    original = ECRBackend.put_image

    def put_image(self: Any, repository_name: str, image_manifest: str, image_tag: str, *args: Any, **kw: Any) -> Any:
        repository = self.repositories.get(repository_name)
        if repository is not None and repository.image_tag_mutability == "MUTABLE":
            for image in repository.images:
                if image_tag in image.image_tags and image.image_manifest != image_manifest:
                    image.remove_tag(image_tag)
                    if not image.image_tags:
                        image.image_tag = None
        return original(self, repository_name, image_manifest, image_tag, *args, **kw)

    ECRBackend.put_image = put_image  # type: ignore[method-assign]

    import hashlib

    from moto.ecr.models import Image

    def manifest_digest(self: Any) -> None:
        # A registry names an image by the SHA-256 of its manifest's bytes; moto hashes the layers' digests
        # only, so every image without layers (the local releases') had one digest.
        self._image_digest = "sha256:" + hashlib.sha256(self.image_manifest.encode()).hexdigest()

    Image._create_digest = manifest_digest  # type: ignore[method-assign]


def _signing_judged_by_key_policy() -> None:
    """With IAM enforced, kms:Sign is refused unless the key's policy allows the caller: by naming its role, or
    by delegating to IAM (the account's root) whose policies then decide, as KMS judges every use of a key.
    moto reads no key policy but one that denies DescribeKey to everyone. Conditions are not judged."""
    from moto.core.exceptions import JsonRESTError
    from moto.iam.models import iam_backends
    from moto.kms.responses import KmsResponse
    from moto.sts.models import sts_backends

    original = KmsResponse.sign

    def sign(self: Any) -> Any:
        if _enforcing:
            key = self.kms_backend.describe_key(str(self._get_param("KeyId")))
            _, caller, _ = sts_backends[self.current_account][self.partition].get_caller_identity(
                self.get_access_key(), self.region
            )
            policy = json.loads(key.policy) if key.policy else {"Statement": []}
            if not _trusted(policy, "kms:Sign", _principals_of(caller, iam_backends)):
                raise JsonRESTError(
                    "AccessDeniedException",
                    f"User: {caller} is not authorized to perform: kms:Sign on resource: {key.arn} because no "
                    "resource-based policy allows the kms:Sign action",
                )
        return original(self)

    KmsResponse.sign = sign  # type: ignore[method-assign]


def _percentiles() -> None:
    """moto's GetMetricStatistics ignores ExtendedStatistics; CloudWatch answers each asked percentile (p95)
    of the period's values, which the bake reads for the release's latency (nearest rank here)."""
    import math

    from moto.cloudwatch.models import Statistics
    from moto.cloudwatch.responses import CloudWatchResponse

    original = CloudWatchResponse.get_metric_statistics

    def get_metric_statistics(self: Any) -> Any:
        answer = original(self)
        asked = self._get_param("ExtendedStatistics") or []
        result: dict[str, Any] = answer.result  # type: ignore[assignment]  # moto's answer, untyped
        for datapoint in result["Datapoints"]:
            datapoint.asked_percentiles = asked
        return answer

    def extended_statistics(self: Any) -> dict[str, float] | None:
        values = sorted(self.metric_single_values_list)
        asked = getattr(self, "asked_percentiles", [])
        if not asked or not values:
            return None
        return {p: values[max(0, math.ceil(float(p[1:]) / 100 * len(values)) - 1)] for p in asked}

    CloudWatchResponse.get_metric_statistics = get_metric_statistics  # type: ignore[method-assign]
    Statistics.extended_statistics = property(extended_statistics)  # type: ignore[attr-defined]


def _event_bus_refs() -> None:
    """A template's Ref to an event bus is its name, as CloudFormation resolves it; moto's is the bus object
    itself, which a rule on that bus then fails on."""
    from moto.events.models import EventBus

    EventBus.physical_resource_id = property(lambda self: self.name)  # type: ignore[attr-defined]


def _composite_alarms() -> None:
    """moto keeps composite alarms (an alarm with a rule) but has no PutCompositeAlarm, and describes none with
    its AlarmRule: CloudWatch's PutCompositeAlarm takes what PutMetricAlarm's handler already reads."""
    from moto.cloudwatch.models import Alarm
    from moto.cloudwatch.responses import CloudWatchResponse

    CloudWatchResponse.put_composite_alarm = CloudWatchResponse.put_metric_alarm  # type: ignore[attr-defined]
    Alarm.alarm_rule = property(lambda self: self.rule)  # type: ignore[attr-defined]


def _query_definitions() -> None:
    """moto's CloudWatch Logs has no saved Logs Insights queries: PutQueryDefinition, DescribeQueryDefinitions
    and DeleteQueryDefinition as CloudWatch Logs answers them, kept per account and region."""
    import json
    import time
    import uuid

    from moto.logs.exceptions import ResourceNotFoundException
    from moto.logs.responses import LogsResponse

    def saved(self: Any) -> dict[str, dict[str, Any]]:
        backend = self.logs_backend
        if not hasattr(backend, "query_definitions"):
            backend.query_definitions = {}
        return backend.query_definitions  # type: ignore[no-any-return]

    def put_query_definition(self: Any) -> str:
        definition_id = self._get_param("queryDefinitionId") or str(uuid.uuid4())
        saved(self)[definition_id] = {
            "queryDefinitionId": definition_id,
            "name": self._get_param("name"),
            "queryString": self._get_param("queryString"),
            "logGroupNames": self._get_param("logGroupNames") or [],
            "lastModified": int(time.time() * 1000),
        }
        return json.dumps({"queryDefinitionId": definition_id})

    def describe_query_definitions(self: Any) -> str:
        prefix = self._get_param("queryDefinitionNamePrefix") or ""
        found = [d for d in saved(self).values() if d["name"].startswith(prefix)]
        return json.dumps({"queryDefinitions": found})

    def delete_query_definition(self: Any) -> str:
        definition_id = self._get_param("queryDefinitionId")
        if saved(self).pop(definition_id, None) is None:
            raise ResourceNotFoundException(f"no query definition {definition_id}")
        return json.dumps({"success": True})

    LogsResponse.put_query_definition = put_query_definition  # type: ignore[attr-defined]
    LogsResponse.describe_query_definitions = describe_query_definitions  # type: ignore[attr-defined]
    LogsResponse.delete_query_definition = delete_query_definition  # type: ignore[attr-defined]


def _tasks_run_until_stopped() -> None:
    """moto jumps a task to STOPPED (exit 0) the first time it is read; on AWS a task runs until its
    container exits. Tasks stay RUNNING here until the local ECS scheduler stops them."""
    from moto.moto_api import state_manager

    state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**9})


UNSIGNED = "UNSIGNEDREQUEST0000"


def _parameter_versions_name_who_pushed() -> None:
    """A parameter's history names, for each version, the IAM identity that put it (LastModifiedUser, an
    ARN), as Parameter Store does; moto answers "N/A"."""
    from moto.ssm.models import Parameter
    from moto.ssm.responses import SimpleSystemManagerResponse
    from moto.sts.models import sts_backends

    original_put = SimpleSystemManagerResponse.put_parameter
    original_describe = Parameter.describe_response_object

    def put_parameter(self: Any) -> Any:
        answer = original_put(self)
        backend = sts_backends[self.current_account][self.partition]
        _, arn, _ = backend.get_caller_identity(self.get_access_key(), self.region)
        self.ssm_backend.get_parameter(self._get_param("Name")).last_modified_user = arn
        return answer

    def describe_response_object(self: Any, *args: Any, **kwargs: Any) -> Any:
        described = original_describe(self, *args, **kwargs)
        described["LastModifiedUser"] = getattr(self, "last_modified_user", "N/A")
        return described

    SimpleSystemManagerResponse.put_parameter = put_parameter  # type: ignore[method-assign]
    Parameter.describe_response_object = describe_response_object  # type: ignore[method-assign]


def judge_role_trust(on: bool) -> None:
    """Whether sts:AssumeRole is judged by the role's trust policy (with enforce_iam, as AWS does)."""
    global _judging_trust
    _judging_trust = on


def _assume_role_judged_by_trust() -> None:
    """An AssumeRole succeeds only for a role that exists and whose trust policy allows the caller
    sts:AssumeRole (and sts:TagSession, when the request tags the session), as STS decides; moto lets
    anyone assume any role, existing or not. Conditions in a trust policy are not judged."""
    from moto.iam.models import iam_backends
    from moto.sts.exceptions import STSClientError
    from moto.sts.models import sts_backends
    from moto.sts.responses import TokenResponse

    original = TokenResponse.assume_role

    def assume_role(self: Any) -> Any:
        if _judging_trust:
            role_arn = str(self._get_param("RoleArn"))
            tagged = bool(self._get_param("Tags"))
            _, caller, _ = sts_backends[self.current_account][self.partition].get_caller_identity(
                self.get_access_key(), self.region
            )
            account = role_arn.split(":")[4]
            role = next((r for r in iam_backends[account][self.partition].roles.values() if r.arn == role_arn), None)
            actions = ["sts:AssumeRole", *(["sts:TagSession"] if tagged else [])]
            trust = json.loads(role.assume_role_policy_document) if role is not None else {"Statement": []}
            principals = _principals_of(caller, iam_backends)
            if not all(_trusted(trust, action, principals) for action in actions):
                raise STSClientError(
                    "AccessDenied",
                    f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                )
        answer = original(self)
        limits = [str(item["arn"]) for item in self._get_param("PolicyArns") or []]
        if limits:
            credentials: Any = answer.result["Credentials"]  # type: ignore[index]
            _session_policies[credentials.access_key_id] = limits
        return answer

    TokenResponse.assume_role = assume_role  # type: ignore[method-assign]


def _principals_of(caller: str, iam_backends: Any) -> set[str]:
    """The principals a trust policy may name for the caller: its user or role ARN (an assumed role's
    session is its role, path included), its account's root and its account id."""
    parts = caller.split(":")
    account, resource = parts[4], parts[5]
    found = {f"arn:aws:iam::{account}:root", account, "*"}
    if resource.startswith("assumed-role/"):
        name = resource.split("/")[1]
        roles = iam_backends[account]["aws"].roles.values()
        found |= {role.arn for role in roles if role.name == name}
    else:
        found.add(caller)
    return found


def _trusted(trust: dict[str, Any], action: str, principals: set[str]) -> bool:
    """Allowed by a statement and denied by none (a statement's Condition is not judged)."""

    def matches(statement: dict[str, Any]) -> bool:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        named = statement.get("Principal", {})
        if named == "*":
            named = {"AWS": "*"}
        aws = named.get("AWS", []) if isinstance(named, dict) else []
        aws = [aws] if isinstance(aws, str) else aws
        service = action.split(":", 1)[0]
        return any(a in {action, f"{service}:*", "*"} for a in actions) and bool(set(aws) & principals)

    statements = trust.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    if any(s.get("Effect") == "Deny" and matches(s) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and matches(s) for s in statements)


def _presigned_caller_identity() -> None:
    """A presigned sts:GetCallerIdentity (the API's IAM token) answers for the key that signed it, and
    only when the SigV4 signature verifies against that key's secret, as STS does. moto routes such an
    unsigned-looking GET to S3, ignores X-Amz-Credential, and never checks a signature."""
    import urllib.parse
    import warnings
    from datetime import UTC, datetime, timedelta

    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from moto.iam.models import iam_backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.sts.exceptions import STSClientError
    from moto.sts.responses import TokenResponse

    # STS's model lacks these (common) error codes; moto warns about each one it sends.
    warnings.filterwarnings("ignore", message=r"Exception\(STSClientError\)", category=UserWarning)
    original_route = DomainDispatcherApplication.infer_service_region_host

    def infer_service_region_host(self: Any, environ: dict[str, Any], path: str) -> str | None:
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        scope = query.get("X-Amz-Credential", [""])[0]
        asks_sts = scope.endswith("/sts/aws4_request") or query.get("Action") == ["GetCallerIdentity"]
        if not environ.get("HTTP_AUTHORIZATION") and asks_sts:
            # Routed to STS (by a header moto reads for routing only); STS itself then checks the signature.
            routing_scope = scope or f"{UNSIGNED}/20260101/us-east-1/sts/aws4_request"
            routing = f"AWS4-HMAC-SHA256 Credential={routing_scope}, SignedHeaders=host"
            environ = {**environ, "HTTP_AUTHORIZATION": routing}
        return original_route(self, environ, path)

    DomainDispatcherApplication.infer_service_region_host = infer_service_region_host  # type: ignore[method-assign]

    original_identity = TokenResponse.get_caller_identity

    def holder_of(partition: str, access_key_id: str) -> tuple[str, str] | None:
        """(the key's account, its secret), whichever account holds it: an assumed role's session keys live in
        the role's account, a user's in the user's; STS answers for every account."""
        from moto.sts.models import sts_backends

        for account in list(sts_backends):
            role = sts_backends[account][partition].get_assumed_role_from_access_key(access_key_id)
            if role:
                return str(account), str(role.secret_access_key)
        for account in list(iam_backends):
            user = iam_backends[account][partition].get_user_from_access_key_id(access_key_id)
            for key in getattr(user, "access_keys", []):
                if key.access_key_id == access_key_id:
                    return str(account), str(key.secret_access_key)
        return None

    def get_caller_identity(self: Any) -> Any:
        query = {name: values[0] for name, values in self.querystring.items()}
        if "X-Amz-Signature" not in query:
            # A header-signed call (moto's own clients) carries Signature=; the routing header above does not.
            if "Signature=" not in self.headers.get("Authorization", ""):
                raise STSClientError("MissingAuthenticationToken", "Request is missing Authentication Token")
            return original_identity(self)
        access_key_id, _day, region, service, _ = query["X-Amz-Credential"].split("/")
        holder = holder_of(self.partition, access_key_id)
        if holder is None:
            raise STSClientError("InvalidClientTokenId", "The security token included in the request is invalid.")
        account, secret = holder
        signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if signed_at + timedelta(seconds=int(query["X-Amz-Expires"])) < datetime.now(UTC):
            raise STSClientError("ExpiredToken", "Request has expired.")
        unsigned = {name: value for name, value in query.items() if name != "X-Amz-Signature"}
        headers = {name: self.headers.get(name, "") for name in query["X-Amz-SignedHeaders"].split(";")}
        request = AWSRequest(
            method="GET", url=f"http://{headers['host']}/?{urllib.parse.urlencode(unsigned)}", headers=headers
        )
        request.context["timestamp"] = query["X-Amz-Date"]
        auth = SigV4QueryAuth(Credentials(access_key_id, secret), service, region, expires=int(query["X-Amz-Expires"]))
        expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
        if expected != query["X-Amz-Signature"]:
            raise STSClientError("SignatureDoesNotMatch", "The request signature we calculated does not match.")
        self.headers = {**dict(self.headers), "Authorization": f"AWS4-HMAC-SHA256 Credential={access_key_id}/"}
        self.current_account = account  # STS answers with the key's own account, whichever it is
        return original_identity(self)

    TokenResponse.get_caller_identity = get_caller_identity  # type: ignore[method-assign]


def _performance_insights() -> None:
    """moto accepts EnablePerformanceInsights (create and modify) but never reports it; RDS answers
    PerformanceInsightsEnabled."""
    from moto.rds.models import DBInstance

    original = DBInstance.__init__

    def init(self: Any, backend: Any, **kwargs: Any) -> None:
        original(self, backend, **kwargs)
        self.enable_performance_insights = bool(kwargs.get("enable_performance_insights", False))

    DBInstance.__init__ = init  # type: ignore[method-assign,assignment]
    DBInstance.performance_insights_enabled = property(  # type: ignore[attr-defined]
        lambda self: bool(getattr(self, "enable_performance_insights", False))
    )


# IAM's names for services whose requests are signed under another name (moto judges by the signing name).
_IAM_PREFIX_OF_SIGNING_NAME = {"monitoring": "cloudwatch"}
# IAM's names for S3 requests that moto names after the operation instead.
_IAM_ACTION_OF_S3_OPERATION = {
    "s3:HeadBucket": "s3:ListBucket",
    "s3:GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "s3:PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "s3:DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "s3:GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "s3:DeleteObjects": "s3:DeleteObject",
}
_enforcing = 0


def _delete_objects_judged_per_key() -> None:
    """S3's DeleteObjects needs s3:DeleteObject on each object it deletes; moto judges it once, on the
    bucket, which no policy scoped to the bucket's objects allows."""
    import xmltodict
    from moto.s3.responses import S3Response

    original = S3Response._authenticate_and_authorize_s3_action

    def authorize(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
        if bucket_name and key_name is None and self.data.get("Action") == "DeleteObject" and self.is_delete_keys():
            # Parsed as moto parses it to delete the keys.
            objects = xmltodict.parse(self.body, strip_whitespace=False)["Delete"].get("Object", [])
            keys = [item["Key"] for item in (objects if isinstance(objects, list) else [objects])]
            for key in keys:
                original(self, bucket_name=bucket_name, key_name=key)
            return
        original(self, bucket_name=bucket_name, key_name=key_name)

    S3Response._authenticate_and_authorize_s3_action = authorize  # type: ignore[method-assign]


def enforce_iam() -> None:
    """Judge every request by its caller's IAM policies from now on, as AWS does (moto's own enforcement,
    which by default lets every request through), with IAM's names for what moto names otherwise:
    CloudWatch's actions are `cloudwatch:` (moto: `monitoring:`, its signing name), and a DynamoDB
    transaction needs each of its items' actions (moto: `dynamodb:TransactWriteItems`, which IAM does
    not have). Counted: the last stack to stop turns it off."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam import access_control

    from localaws.iam_calls import TRANSACTION_ITEM_ACTIONS

    global _enforcing
    if not getattr(access_control.IAMRequestBase, "_launchctl_named_as_iam", False):
        original_init = access_control.IAMRequestBase.__init__
        original_check = access_control.IAMRequestBase.check_action_permitted

        def named_as_iam(self: Any, *args: Any, **kwargs: Any) -> None:
            original_init(self, *args, **kwargs)
            service, _, action = self._action.partition(":")
            named = f"{_IAM_PREFIX_OF_SIGNING_NAME.get(service, service)}:{action}"
            self._action = _IAM_ACTION_OF_S3_OPERATION.get(named, named)

        def check_action_permitted(self: Any, resource: str) -> None:
            if self._action not in {"dynamodb:TransactWriteItems", "dynamodb:TransactGetItems"}:
                original_check(self, resource)
                return _within_session_policies(self, resource)
            items = json.loads(self._body or b"{}").get("TransactItems", [])
            for action in sorted({TRANSACTION_ITEM_ACTIONS[kind] for item in items for kind in item}):
                self._action = action
                original_check(self, resource)
                _within_session_policies(self, resource)
            return None

        access_control.IAMRequestBase.__init__ = named_as_iam  # type: ignore[method-assign]
        access_control.IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]
        original_request = access_control.IAMRequestBase._create_aws_request

        def signed_request(self: Any) -> Any:
            # moto signs a GET over its parsed query parameters as if they were the body (a GET of
            # Lambda's REST API never matches then); a GET's signature is over an empty body.
            request = original_request(self)
            if self._method in {"GET", "HEAD"} and not self._body:
                request.data = b""
            return request

        access_control.IAMRequestBase._create_aws_request = signed_request  # type: ignore[method-assign]

        original_authorize = ActionAuthenticatorMixin._authenticate_and_authorize_action

        def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
            # A presigned GetCallerIdentity (an IAM token) has no Authorization header, which moto's
            # check reads; STS allows the call to anyone, and the presigned fix above checks its signature.
            if "Authorization" not in self.headers and self._get_action() == "GetCallerIdentity":
                return None
            try:
                return original_authorize(self, iam_request_cls, resource)
            except access_control.AccessDeniedError as refused:  # type: ignore[attr-defined]
                if iam_request_cls is access_control.S3IAMRequest:
                    raise  # S3's own error document already
                raise _refusal_in_protocol(dict(self.headers), refused.message) from None

        ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize  # type: ignore[method-assign]

        original_matches = access_control.IAMPolicyStatement._check_element_matches

        def matches(self: Any, element: str, value: str) -> bool:
            # moto names the resource of a request only for S3 and roles ("*" otherwise), so it cannot
            # judge a statement's resources: it judges the action, and tests/policies judge resources.
            if element == "Resource" and value == "*":
                return True
            return bool(original_matches(self, element, value))

        access_control.IAMPolicyStatement._check_element_matches = matches  # type: ignore[method-assign,assignment]
        _delete_objects_judged_per_key()
        access_control.IAMRequestBase._launchctl_named_as_iam = True  # type: ignore[attr-defined]
    _enforcing += 1
    judge_role_trust(True)
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0


def _within_session_policies(request: Any, resource: str) -> None:
    """A session limited by AssumeRole's PolicyArns may do only what its role's policies and those
    session policies both allow, as IAM evaluates a session policy (moto ignores them)."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.iam.models import iam_backends

    key = request._access_key
    limits = _session_policies.get(getattr(key, "_access_key_id", ""), [])
    if not limits or request._action == "sts:GetCallerIdentity":
        return
    backend = iam_backends[key.account_id][key.partition]
    results = [IAMPolicy(backend.get_policy(arn)).is_action_permitted(request._action, resource) for arn in limits]
    if PermissionResult.DENIED in results or PermissionResult.PERMITTED not in results:
        request._raise_access_denied()


def stop_enforcing_iam() -> None:
    from moto import settings

    global _enforcing
    _enforcing = max(0, _enforcing - 1)
    if _enforcing == 0:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
        judge_role_trust(False)


def operator_keys(account_id: str, name: str = "launch-controller-operator") -> tuple[str, str]:
    """Keys of an IAM user allowed everything, made in moto's IAM directly (no request needs allowing
    first): what deploys the stack and plays the account's other actors (ECS, the site, the tests)."""
    from moto.iam.models import iam_backends

    iam = iam_backends[account_id]["aws"]
    try:
        iam.get_user(name)
    except Exception:  # noqa: BLE001 - moto's NoSuchEntity: first stack of this process
        iam.create_user("us-east-1", name)
        iam.put_user_policy(
            name,
            "everything",
            json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
        )
    keys = [key for key in iam.list_access_keys(name) if key.status == "Active"]
    key = keys[0] if keys else iam.create_access_key(name)
    return key.access_key_id, key.secret_access_key


def lambda_service_credentials(account_id: str, role_arn: str, session_name: str) -> dict[str, str]:
    """What Lambda's service gets when it assumes a function's role (which trusts only
    lambda.amazonaws.com, so no IAM user of the account could): made in moto's STS directly."""
    from moto.sts.models import sts_backends

    session = sts_backends[account_id]["aws"].assume_role(
        region_name="us-east-1",
        role_session_name=session_name,
        role_arn=role_arn,
        policy="",
        duration=43200,
        external_id="",
    )
    return {
        "AccessKeyId": session.access_key_id,
        "SecretAccessKey": session.secret_access_key,
        "SessionToken": session.session_token,
    }


def _refusal_in_protocol(headers: dict[str, str], message: str) -> Exception:
    """AccessDenied as the service's protocol spells it (moto answers every service with EC2's XML, which
    botocore cannot read for a JSON, CBOR or query service: the caller would see a bare 403)."""
    from werkzeug.exceptions import HTTPException

    from localaws.faults import cbor_text_map

    lowered = {key.lower(): value for key, value in headers.items()}
    content_type = lowered.get("content-type", "")
    service = lowered.get("authorization", "").partition("Credential=")[2].split("/")[3:4]

    class Refused(HTTPException):
        pass

    refused = Refused()
    if lowered.get("smithy-protocol") == "rpc-v2-cbor" or content_type == "application/cbor":
        refused.code = 400
        refused.description = cbor_text_map({"__type": "AccessDeniedException", "message": message})  # type: ignore[assignment]
    elif content_type.startswith("application/x-amz-json") or content_type == "application/json":
        refused.code = 400
        refused.description = json.dumps({"__type": "AccessDeniedException", "message": message})
    elif service == ["ec2"]:
        refused.code = 403
        refused.description = (
            f"<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>{message}</Message></Error>"
            "</Errors><RequestID>refused</RequestID></Response>"
        )
    else:
        refused.code = 403
        refused.description = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{message}</Message>"
            "</Error><RequestId>refused</RequestId></ErrorResponse>"
        )
    return refused
