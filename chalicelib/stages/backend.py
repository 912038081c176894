"""Backend: migrate the database, roll the ECS service to the release, and look at how either stands."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from chalicelib.checks.application import image_digest
from chalicelib.domain.errors import BackendRolloutFailed, MigrationFailed
from chalicelib.domain.models import Change, Launch, LaunchStatus, Stage
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.domain.progress import BackendProgress, Progress
from chalicelib.domain.service_events import Notice
from chalicelib.stages.harness import StageCall, StageSpec
from chalicelib.stages.service import (
    another_deployment,
    migration_started_by,
    migration_task,
    primary_deployment,
    rollout_state,
)
from chalicelib.stages.traffic_steps import StepDetails
from chalicelib.stages.wait_outcomes import Outcome, Sighting, migration_outcome
from chalicelib.store import LaunchStore, Wait

# The fields of a described task definition that register_task_definition accepts back.
_REGISTERABLE = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
)


# How many recent revisions of a family are searched for one this launch registered already.
_RECENT_REVISIONS = 10


def release_task_definition(current: dict[str, Any], container: str, image: str) -> dict[str, Any]:
    """The registration request for a copy of `current` whose `container` runs `image`."""
    request = {field: current[field] for field in _REGISTERABLE if current.get(field)}
    containers = [dict(definition) for definition in current["containerDefinitions"]]
    matching = [definition for definition in containers if definition["name"] == container]
    if not matching:
        names = ", ".join(definition["name"] for definition in containers)
        raise BackendRolloutFailed(f"task definition {current['family']} has no container {container!r} (has {names})")
    matching[0]["image"] = image
    request["containerDefinitions"] = containers
    return request


def launch_tag(launch: Launch) -> list[dict[str, str]]:
    return [
        {"key": "launch-id", "value": launch.launch_id},
        {"key": "release-version", "value": launch.request.version},
    ]


def registered_for(ecs: Any, family: str, launch_id: str, tag_key: str = "launch-id") -> str | None:
    """The revision of `family` this launch registered already (a retried step), found by its tag."""
    recent = ecs.list_task_definitions(familyPrefix=family, sort="DESC", maxResults=_RECENT_REVISIONS)
    arn: str
    for arn in recent["taskDefinitionArns"]:
        if arn.rsplit("/", 1)[-1].split(":")[0] != family:
            continue  # familyPrefix also matches longer family names
        tags = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"]).get("tags", [])
        if {"key": tag_key, "value": launch_id} in tags:
            return arn
    return None


def passed_roles(current: dict[str, Any], task_roles: Collection[str]) -> None:
    """Registering a copy of `current` passes its roles to ECS, which the controller may do only for the
    roles the profile names (its policy grants iam:PassRole on those alone): say so before AWS refuses."""
    for field in ("taskRoleArn", "executionRoleArn"):
        role = current.get(field)
        if role and role not in task_roles:
            raise BackendRolloutFailed(
                f"task definition {current['family']} runs with {field} {role}, which the profile's "
                "backend.task_roles does not list: the controller passes only the roles listed there"
            )


def register_release(
    ecs: Any, launch: Launch, task_definition: str, container: str, task_roles: Collection[str]
) -> tuple[str, bool]:
    """(ARN of a revision of `task_definition` whose `container` runs the release image, whether it is new)."""
    current = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    passed_roles(current, task_roles)
    existing = registered_for(ecs, current["family"], launch.launch_id)
    if existing:
        return existing, False
    request = release_task_definition(current, container, launch.deployed_image)
    registered = ecs.register_task_definition(**request, tags=launch_tag(launch))["taskDefinition"]
    return registered["taskDefinitionArn"], True


def deploy_backend(
    store: LaunchStore, launch: Launch, profile: EnvironmentProfile, ecs: Any, hook_arn: str = "", ecr: Any = None
) -> BackendProgress:
    """Start the migration task when the profile has one, otherwise (or once it migrated) roll the service."""
    state = launch.results.backend
    assert launch.rollback_point is not None, "the rollback point is recorded before the backend changes"
    if state is None:
        if profile.backend.migration is not None:
            return start_migration(store, launch, profile, ecs, store.clock.now())
        return roll_service(store, launch, profile, ecs, store.clock.now(), hook_arn, ecr)
    if state.phase == "migrated":
        rolling = roll_service(store, launch, profile, ecs, store.clock.now(), hook_arn, ecr)
        rolling.migration_task_arn = state.migration_task_arn
        return rolling
    return state  # a retried step: already migrating or rolling


def start_migration(
    store: LaunchStore, launch: Launch, profile: EnvironmentProfile, ecs: Any, moment: datetime
) -> BackendProgress:
    """Run the migration task with the release image; a retried step finds the task it started."""
    migration = profile.backend.migration
    assert migration is not None
    cluster = profile.backend.cluster
    definition, _ = register_release(
        ecs, launch, migration.task_definition, migration.container, profile.backend.task_roles
    )
    store.record_change(launch.launch_id, Change.DATABASE)
    task_arn = migration_task(ecs, cluster, launch.launch_id)
    if task_arn is None:
        run: dict[str, Any] = {
            "cluster": cluster,
            "taskDefinition": definition,
            "count": 1,
            "launchType": migration.launch_type,
            "startedBy": migration_started_by(launch.launch_id),
            "tags": launch_tag(launch),
        }
        if migration.subnets:
            run["networkConfiguration"] = {
                "awsvpcConfiguration": {
                    "subnets": migration.subnets,
                    "securityGroups": migration.security_groups,
                    "assignPublicIp": "DISABLED",
                }
            }
        response = ecs.run_task(**run)
        if not response.get("tasks"):
            reasons = ", ".join(f"{f.get('arn', '')}: {f.get('reason', '')}" for f in response.get("failures", []))
            raise MigrationFailed(f"ECS did not start the migration task: {reasons or 'no reason given'}")
        task_arn = response["tasks"][0]["taskArn"]
    store.record_migration_task(launch.launch_id, task_arn)
    store.append_event(
        launch.launch_id,
        "migration_started",
        f"migration task {task_arn.rsplit('/', 1)[-1]} running {definition.rsplit('/', 1)[-1]}",
        stage=Stage.BACKEND,
        details={"task_arn": task_arn, "task_definition_arn": definition},
    )
    return BackendProgress(
        phase="migrating",
        migration_task_arn=task_arn,
        migration_deadline=moment + timedelta(seconds=migration.deadline_seconds),
        rollout="in_progress",
    )


def migration_sighting(launch: Launch, profile: EnvironmentProfile, ecs: Any) -> Sighting:
    """The migration task as ECS describes it now: the task's stop event decides its wait."""
    state = launch.results.backend
    assert state is not None, "the migration was started"
    assert state.migration_task_arn is not None
    task = ecs.describe_tasks(cluster=profile.backend.cluster, tasks=[state.migration_task_arn])["tasks"][0]
    return Sighting(resources=[state.migration_task_arn], outcome=migration_outcome(launch, profile, task))


def stop_migration(launch: Launch, profile: EnvironmentProfile, ecs: Any) -> None:
    """A migration past its deadline is stopped: nothing may keep changing the database after the launch
    gave up on it."""
    state = launch.results.backend
    if state is not None and state.migration_task_arn:
        ecs.stop_task(cluster=profile.backend.cluster, task=state.migration_task_arn, reason="launch deadline")


def traffic_configuration(
    launch: Launch, profile: EnvironmentProfile, service: dict[str, Any], hook_arn: str
) -> dict[str, Any] | None:
    """The deployment configuration of a canary or linear rollout (all at once: None, as the service deploys):
    ECS's strategy with no bake of its own, and the controller's lifecycle hook at every traffic step, told the
    launch and which target group the release's tasks will serve from (the service's alternate one)."""
    traffic = profile.backend.traffic
    if traffic.shift == "all_at_once":
        return _without_our_steps(service.get("deploymentConfiguration") or {}, hook_arn)
    balancers = [lb for lb in service.get("loadBalancers", []) if lb.get("targetGroupArn")]
    alternate = (balancers[0].get("advancedConfiguration") or {}).get("alternateTargetGroupArn") if balancers else None
    if not alternate or not profile.bake.load_balancer or not hook_arn or traffic.hook_role_arn is None:
        missing = [
            what
            for what, there in (
                ("a load balancer with an alternate target group (ECS blue/green's advancedConfiguration)", alternate),
                ("the profile's bake.load_balancer (whose figures each step is judged on)", profile.bake.load_balancer),
                ("the controller's lifecycle hook (TRAFFIC_HOOK_ARN)", hook_arn),
            )
            if not there
        ]
        raise BackendRolloutFailed(
            f"a {traffic.shift} rollout of {profile.backend.service} needs " + "; ".join(missing)
        )
    details = StepDetails(
        launch_id=launch.launch_id,
        load_balancer=profile.bake.load_balancer,
        new_target_group=target_group_dimension(alternate),
        old_target_group=target_group_dimension(balancers[0]["targetGroupArn"]),
    )
    strategy: dict[str, Any] = (
        {
            "strategy": "CANARY",
            "canaryConfiguration": {"canaryPercent": traffic.canary_percent, "canaryBakeTimeInMinutes": 0},
        }
        if traffic.shift == "canary"
        else {
            "strategy": "LINEAR",
            "linearConfiguration": {"stepPercent": traffic.linear_step_percent, "stepBakeTimeInMinutes": 0},
        }
    )
    return {
        **strategy,
        "bakeTimeInMinutes": 0,
        "lifecycleHooks": [
            {
                "hookTargetArn": hook_arn,
                "roleArn": traffic.hook_role_arn,
                "lifecycleStages": ["PRODUCTION_TRAFFIC_SHIFT"],
                "hookDetails": details.model_dump(),
            }
        ],
    }


def _without_our_steps(current: dict[str, Any], hook_arn: str) -> dict[str, Any] | None:
    """A service's deployment configuration persists from one UpdateService to the next: after a canary or linear
    launch, an all-at-once one rolls again (ROLLING) and drops the controller's hook, which would otherwise be
    asked about a launch that has ended. None when the service carries nothing of the controller's."""
    hooks = current.get("lifecycleHooks") or []
    ours = [hook for hook in hooks if hook_arn and hook.get("hookTargetArn") == hook_arn]
    if not ours:
        return None
    kept = {key: value for key, value in current.items() if key not in {"canaryConfiguration", "linearConfiguration"}}
    return {**kept, "strategy": "ROLLING", "lifecycleHooks": [hook for hook in hooks if hook not in ours]}


def tag_unmoved(launch: Launch, ecr: Any) -> None:
    """A forced deployment runs whatever its tag names when ECS starts it: refuse it once the tag has moved
    from the digest preflight resolved and the approvers signed off."""
    signed_off = launch.artifacts.backend_digest if launch.artifacts else None
    if signed_off is None:
        return
    now = image_digest(ecr, launch.request.backend_image)
    if now != signed_off:
        raise BackendRolloutFailed(
            f"{launch.request.backend_image} names {now or 'no image'} now, not {signed_off} as at preflight: "
            "a forced deployment would run the moved tag, so none was started"
        )


def target_group_dimension(arn: str) -> str:
    """A target group's CloudWatch dimension: its ARN's resource, targetgroup/<name>/<id>."""
    return arn.split(":", 5)[5]


def roll_service(
    store: LaunchStore,
    launch: Launch,
    profile: EnvironmentProfile,
    ecs: Any,
    moment: datetime,
    hook_arn: str = "",
    ecr: Any = None,
) -> BackendProgress:
    """Point the service at the release (or force a new deployment) unless a retried step already did."""
    assert launch.rollback_point is not None
    target = profile.backend
    service = ecs.describe_services(cluster=target.cluster, services=[target.service])["services"][0]
    if target.strategy == "force_new_deployment":
        definition = launch.rollback_point.task_definition_arn
        current = ecs.describe_task_definition(taskDefinition=definition)["taskDefinition"]
        images = {c["name"]: c.get("image") for c in current["containerDefinitions"]}
        if images.get(target.container) != launch.request.backend_image:
            raise BackendRolloutFailed(
                f"the profile forces a new deployment of {definition.rsplit('/', 1)[-1]}, whose {target.container} "
                f"image {images.get(target.container)} is not the release's {launch.request.backend_image}"
            )
        already = any(
            d.get("createdAt") and d["createdAt"] > launch.rollback_point.recorded_at
            for d in service.get("deployments", [])
        )
        if not already and ecr is not None:
            tag_unmoved(launch, ecr)
    else:
        definition, _ = register_release(
            ecs, launch, launch.rollback_point.task_definition_arn, target.container, target.task_roles
        )
        already = service["taskDefinition"] == definition
    steps = traffic_configuration(launch, profile, service, hook_arn)
    store.record_change(launch.launch_id, Change.BACKEND)
    if not already:
        service = ecs.update_service(
            cluster=target.cluster,
            service=target.service,
            taskDefinition=definition,
            forceNewDeployment=target.strategy == "force_new_deployment",
            **({"deploymentConfiguration": steps} if steps else {}),
        )["service"]
    store.append_event(
        launch.launch_id,
        "backend_deploying",
        f"service {target.service} rolling to {definition.rsplit('/', 1)[-1]} ({launch.deployed_image})"
        + (" (resumed)" if already else ""),
        stage=Stage.BACKEND,
    )
    return BackendProgress(
        phase="rolling",
        task_definition_arn=definition,
        deployment_id=primary_deployment(service, definition),
        rolling_since=moment,
        deadline=moment + timedelta(seconds=target.deadline_seconds),
        rollout="in_progress",
    )


def rollout_sighting(launch: Launch, profile: EnvironmentProfile, ecs: Any) -> Sighting:
    """The rollout as ECS describes it now; its deployment's COMPLETED or FAILED event decides its wait."""
    deployed = launch.results.backend
    assert deployed is not None, "the backend stage started the rollout"
    assert deployed.task_definition_arn is not None
    target = profile.backend
    service = ecs.describe_services(cluster=target.cluster, services=[target.service])["services"][0]
    since = deployed.rolling_since if target.strategy == "force_new_deployment" else None
    state, reason = rollout_state(service, deployed.task_definition_arn, since)
    deployment = deployed.deployment_id or primary_deployment(service, deployed.task_definition_arn) or ""
    expects = {"deployment_id": deployment}
    if state == "failed":
        outcome = Outcome(verdict="failed", reason=f"ECS rollout of {target.service} failed: {reason}")
    elif state == "steady":
        steady = deployed.model_copy(update={"rollout": "steady", "reason": reason, "deployment_id": deployment})
        outcome = Outcome(verdict="done", reason=f"service {target.service} steady: {reason}", progress=steady)
    else:
        outcome = Outcome(verdict="pending", reason=reason)
    return Sighting(resources=[service["serviceArn"]], outcome=outcome, expects=expects)


def rollout_heard(wait: Wait, notice: Notice, launch: Launch, profile: EnvironmentProfile) -> Outcome:
    """ECS's event about the launch's deployment of the service."""
    other = another_deployment(wait, notice)
    if other is not None:
        return other
    if notice.verdict == "failed":
        return Outcome(verdict="failed", reason=f"ECS rollout of {profile.backend.service} failed: {notice.reason}")
    backend = launch.results.backend
    if backend is None:
        return Outcome(verdict="done", reason=notice.reason)
    steady = backend.model_copy(update={"rollout": "steady", "reason": notice.reason})
    return Outcome(verdict="done", reason=notice.reason, progress=steady)


def migration_heard(wait: Wait, notice: Notice, launch: Launch, profile: EnvironmentProfile) -> Outcome:
    """ECS's event about the migration task: its container's exit decides."""
    return migration_outcome(launch, profile, notice.task or {})


def _deploy_backend_step(call: StageCall) -> Progress:
    # Only a forced deployment asks ECR whether the tag still names the image signed off.
    forced = call.profile.backend.strategy == "force_new_deployment"
    ecr = call.client("ecr") if forced else None
    return deploy_backend(
        call.store, call.launch, call.profile, call.client("ecs"), call.settings.traffic_hook_arn, ecr
    )


DEPLOY_BACKEND = StageSpec(
    "deploy_backend", Stage.BACKEND, _deploy_backend_step, enters=LaunchStatus.DEPLOYING, clients=("ecs", "ecr")
)
