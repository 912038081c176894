"""Plays ECS's scheduler for moto, which never runs tasks: settles deployments and stops one-off tasks."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from moto.core.utils import utcnow
from moto.ecs.models import ecs_backends

from localaws import emitters, service_revisions
from localaws.ecs_strategies import Hook, TrafficShift, bake_seconds, revision_arn, steps_of
from localaws.eventbridge import service_event
from localaws.images import Images
from localaws.infrastructure import ACCOUNT_ID


class EcsScheduler:
    """Watches every emulated service and settles its deployments the way ECS would.

    After `update_service` moto changes the service's task definition but keeps the old PRIMARY
    deployment with no running tasks; this turns that into a new PRIMARY deployment that
    completes (every desired task running, old deployment drained) after `settle_seconds`,
    or fails when its image is listed in `failing_images`, as ECS's circuit breaker reports; an image
    in `slow_images` keeps its rollout in progress until it leaves the set.

    One-off tasks (a launch's migration, started by `launch/<id>`) run for `settle_seconds` and
    stop with exit code 0, or 1 when their image is listed in `failing_tasks`; one whose image is in
    `slow_tasks` runs until it leaves the set (or someone stops it).

    Each change is emitted as ECS emits it to EventBridge (`emit`): a deployment's IN_PROGRESS, COMPLETED
    and FAILED, a task's STOPPED. An UpdateService starts its deployment at once, so its answer names the
    new deployment, as ECS's does."""

    def __init__(
        self,
        region: str,
        settle_seconds: float = 0.5,
        tick_seconds: float = 0.1,
        account_id: str = ACCOUNT_ID,
        emit: Callable[[dict[str, Any]], None] | None = None,
        hook: Hook | None = None,
    ) -> None:
        self._region = region
        self._account_id = account_id  # the environment's account, where the services run
        self.settle_seconds = settle_seconds
        self._tick = tick_seconds
        self._known: set[str] = set()
        self._services_seen: set[str] = set()
        self._started: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failing_images: set[str] = Images()
        self.slow_images: set[str] = Images()  # their rollouts stay IN_PROGRESS until taken out of the set
        self.failing_tasks: set[str] = Images()
        self.slow_tasks: set[str] = Images()  # tasks running these images keep running until taken out of the set
        self._tasks_seen: dict[str, float] = {}
        self._emit = emit
        self._pass = threading.RLock()  # one pass at a time: the scheduler's thread, or an UpdateService
        # CANARY and LINEAR deployments: their traffic shifts, by deployment id, and how a hook is invoked.
        self.shifts: dict[str, TrafficShift] = {}
        self._hook = hook

    def start(self) -> None:
        emitters.on_service_updated(self._service_updated)
        self._thread = threading.Thread(target=self._run, name="ecs-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        emitters.forget_service_updates(self._service_updated)
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)

    def _service_updated(self, backend: Any, service: Any) -> None:
        if backend is not self._backend() or service.status != "ACTIVE" or not service.deployments:
            return
        with self._pass:
            primary = service.deployments[0]
            if primary["taskDefinition"] != service.task_definition or primary["id"] not in self._known:
                self._begin(service)

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            try:
                self.settle()
            except Exception:  # the scheduler must outlive a service deleted under it
                logging.getLogger(__name__).exception("ECS scheduler pass failed")

    def _backend(self) -> Any:
        return ecs_backends[self._account_id][self._region]

    def image_of(self, task_definition_arn: str) -> str:
        """The image of a task definition's first container."""
        return self._image(task_definition_arn)

    def _image(self, task_definition_arn: str) -> str:
        definition = self._backend().describe_task_definition(task_definition_arn)
        return str(definition.container_definitions[0].get("image", ""))

    def settle(self) -> None:
        """One pass: start new deployments, finish or fail the due ones, stop the due one-off tasks, and move
        each traffic shift on (its hooks invoked outside the pass: a hook is a function that takes its time)."""
        with self._pass:
            self._settle()
            shifting = [shift for shift in self.shifts.values() if shift.outcome is None]
        for shift in shifting:
            shift.advance(self._invoke_hook)
        with self._pass:
            self._conclude_shifts()

    def _invoke_hook(self, target: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        if self._hook is None:
            raise RuntimeError(f"no way to invoke the lifecycle hook {target} here")
        return self._hook(target, payload)

    def traffic(self, service_arn: str) -> TrafficShift | None:
        """The traffic shift under way for a service, if any (what the load balancer's weights are)."""
        with self._pass:
            return next(
                (shift for shift in self.shifts.values() if shift.service_arn == service_arn and shift.outcome is None),
                None,
            )

    def _settle(self) -> None:
        self._stop_tasks()
        for service in list(self._backend().services.values()):
            if service.status != "ACTIVE" or not service.deployments:
                continue
            primary = service.deployments[0]
            if primary["taskDefinition"] != service.task_definition or primary["id"] not in self._known:
                primary = self._begin(service)
            if (
                primary["rolloutState"] == "IN_PROGRESS"
                and time.monotonic() - self._started[primary["id"]] >= self.settle_seconds
                and not self._shifting(primary)
            ):
                self._finish(service, primary)

    def _begin(self, service: Any) -> dict[str, Any]:
        now = utcnow()
        deployment_id = f"ecs-svc/{time.time_ns()}"
        if service.arn in self._services_seen:
            # The deployment that was running stays ACTIVE, draining, until the new one completes.
            previous = [{**service.deployments[0], "status": "ACTIVE", "updatedAt": now}, *service.deployments[1:]]
        else:
            previous = []  # moto's record of the service's creation: the first deployment replaces it
            self._services_seen.add(service.arn)
        deployment = {
            **service.deployments[0],
            "id": deployment_id,
            "status": "PRIMARY",
            "taskDefinition": service.task_definition,
            "desiredCount": service.desired_count,
            "runningCount": 0,
            "pendingCount": service.desired_count,
            "failedTasks": 0,
            "rolloutState": "IN_PROGRESS",
            "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
            "createdAt": now,
            "updatedAt": now,
        }
        service.deployments = [deployment, *previous]
        service_revisions.record(self._backend(), service, deployment)
        self._known.add(deployment_id)
        self._started[deployment_id] = time.monotonic()
        if previous:
            self._plan_shift(service, deployment, previous[0])
        if previous:  # moto's record of a service's creation is no deployment of ours
            self._deployment_event(service, deployment, "SERVICE_DEPLOYMENT_IN_PROGRESS", "INFO")
        return deployment

    def _plan_shift(self, service: Any, deployment: dict[str, Any], old: dict[str, Any]) -> None:
        """A CANARY or LINEAR deployment of a service behind a load balancer with an alternate target group:
        its traffic moves in steps once its tasks have started (`settle_seconds`)."""
        configuration = getattr(service, "deployment_configuration", None) or {}
        steps = steps_of(configuration)
        balancers = [lb for lb in service.load_balancers if lb.get("targetGroupArn")]
        alternate = (
            (balancers[0].get("advancedConfiguration") or {}).get("alternateTargetGroupArn") if balancers else None
        )
        if steps is None or not alternate:
            return
        self.shifts[deployment["id"]] = TrafficShift(
            service_arn=service.arn,
            new_revision=revision_arn(service.arn, deployment["id"]),
            old_revision=revision_arn(service.arn, old["id"]),
            new_target_group=alternate,
            old_target_group=balancers[0]["targetGroupArn"],
            steps=steps,
            bake=bake_seconds(configuration, self.settle_seconds),
            hooks=list(configuration.get("lifecycleHooks") or []),
            due=time.monotonic() + self.settle_seconds,
            old_task_definition=old["taskDefinition"],
            new_task_definition=deployment["taskDefinition"],
        )

    def _move_targets(self, old: str, new: str) -> None:
        """The release's tasks are the new group's targets now, and the old group's are gone (drained)."""
        from moto.elbv2.models import elbv2_backends

        groups = elbv2_backends[self._account_id][self._region].target_groups
        if old in groups and new in groups:
            groups[new].targets.update(groups[old].targets)
            groups[old].targets.clear()

    def _shifting(self, deployment: dict[str, Any]) -> bool:
        """Its traffic still moving: the deployment ends with its shift, not when its tasks have started."""
        shift = self.shifts.get(deployment["id"])
        image = self._image(deployment["taskDefinition"])
        return shift is not None and image not in self.failing_images and image not in self.slow_images

    def _conclude_shifts(self) -> None:
        for deployment_id, shift in list(self.shifts.items()):
            if shift.outcome is None or shift.concluded:
                continue
            shift.concluded = True
            service = next((s for s in self._backend().services.values() if s.arn == shift.service_arn), None)
            if service is None or not service.deployments or service.deployments[0]["id"] != deployment_id:
                continue  # another deployment replaced it meanwhile
            deployment = service.deployments[0]
            if shift.outcome == "COMPLETED":
                # The release's target group is the production one now; the old one waits for the next release.
                balancer = service.load_balancers[0]
                advanced = dict(balancer.get("advancedConfiguration") or {})
                advanced["alternateTargetGroupArn"] = shift.old_target_group
                service.load_balancers = [
                    {**balancer, "targetGroupArn": shift.new_target_group, "advancedConfiguration": advanced},
                    *service.load_balancers[1:],
                ]
                self._move_targets(shift.old_target_group, shift.new_target_group)
                self._finish(service, deployment)
                continue
            # Rolled back: the old revision serves everything again, and the release's deployment failed.
            service.task_definition = shift.old_task_definition
            deployment.update(
                rolloutState="FAILED",
                rolloutStateReason=shift.reason,
                failedTasks=0,
                pendingCount=0,
                updatedAt=utcnow(),
            )
            self._deployment_event(service, deployment, "SERVICE_DEPLOYMENT_FAILED", "ERROR")
            restored = {
                **deployment,
                "id": f"ecs-svc/{time.time_ns()}",
                "taskDefinition": shift.old_task_definition,
                "rolloutState": "COMPLETED",
                "rolloutStateReason": f"rolled back to {shift.old_task_definition.rsplit('/', 1)[-1]}",
                "runningCount": deployment["desiredCount"],
                "createdAt": utcnow(),
                "updatedAt": utcnow(),
            }
            self._known.add(restored["id"])
            self._started[restored["id"]] = time.monotonic()
            service.deployments = [restored]

    def _deployment_event(self, service: Any, deployment: dict[str, Any], name: str, kind: str) -> None:
        if self._emit is None:
            return
        detail = {
            "eventType": kind,
            "eventName": name,
            "deploymentId": deployment["id"],
            "updatedAt": emitters.now_iso(),
            "reason": deployment["rolloutStateReason"],
        }
        self._emit(
            service_event(
                "aws.ecs", "ECS Deployment State Change", self._account_id, self._region, [service.arn], detail
            )
        )

    def _finish(self, service: Any, deployment: dict[str, Any]) -> None:
        image = self._image(deployment["taskDefinition"])
        if image in self.slow_images:
            return
        if image in self.failing_images:
            deployment.update(
                rolloutState="FAILED",
                rolloutStateReason="ECS deployment circuit breaker: tasks failed to start.",
                failedTasks=deployment["desiredCount"],
                pendingCount=0,
                updatedAt=utcnow(),
            )
            self._deployment_event(service, deployment, "SERVICE_DEPLOYMENT_FAILED", "ERROR")
            return
        deployment.update(
            rolloutState="COMPLETED",
            rolloutStateReason=f"ECS deployment {deployment['id']} completed.",
            runningCount=deployment["desiredCount"],
            pendingCount=0,
            updatedAt=utcnow(),
        )
        service.deployments = [deployment]
        service.running_count = deployment["desiredCount"]
        service.pending_count = 0
        self._deployment_event(service, deployment, "SERVICE_DEPLOYMENT_COMPLETED", "INFO")

    def _stop_tasks(self) -> None:
        for tasks in list(self._backend().tasks.values()):
            for task in list(tasks.values()):
                if not task.started_by.startswith("launch/") or task.desired_status == "STOPPED":
                    continue
                first_seen = self._tasks_seen.setdefault(task.task_arn, time.monotonic())
                if time.monotonic() - first_seen < self.settle_seconds:
                    continue
                if any(container.image in self.slow_tasks for container in task.containers):
                    continue
                failed = any(container.image in self.failing_tasks for container in task.containers)
                for container in task.containers:
                    container.last_status = "STOPPED"
                    container.exitCode = 1 if failed else 0
                task.stopped_reason = "Essential container in task exited"
                task.desired_status = "STOPPED"
                task.last_status = "STOPPED"
                self._task_stopped(task)

    def _task_stopped(self, task: Any) -> None:
        if self._emit is None:
            return
        now = emitters.now_iso()
        detail = {
            "clusterArn": task.cluster_arn,
            "containers": [
                {
                    "containerArn": f"{task.task_arn.replace(':task/', ':container/')}/{container.name}",
                    "exitCode": container.exitCode,
                    "lastStatus": "STOPPED",
                    "name": container.name,
                    "image": container.image,
                    "taskArn": task.task_arn,
                }
                for container in task.containers
            ],
            "createdAt": now,
            "desiredStatus": "STOPPED",
            "group": f"family:{task.task_definition_arn.rsplit('/', 1)[-1].split(':')[0]}",
            "lastStatus": "STOPPED",
            "launchType": getattr(task, "launch_type", "FARGATE") or "FARGATE",
            "startedBy": task.started_by,
            "stopCode": "EssentialContainerExited",
            "stoppedReason": task.stopped_reason,
            "stoppedAt": now,
            "taskArn": task.task_arn,
            "taskDefinitionArn": task.task_definition_arn,
            "updatedAt": now,
            "version": 3,
        }
        self._emit(
            service_event("aws.ecs", "ECS Task State Change", self._account_id, self._region, [task.task_arn], detail)
        )
