"""The stage Lambdas the state machine invokes, a Blueprint: each runs a row of the stage table.

Its functions import what they use when called (a cold-start rule): every Lambda imports app.py and so
this module, and a top-level import here would be paid by every function's cold start."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib.platform.log import logger
from chalicelib.platform.trace import traced_function
from chalicelib.stages.harness import dependencies, handle, wait_row
from chalicelib.stages.table import STAGES

lambdas = Blueprint(__name__)


@lambdas.lambda_function(name="begin_launch")
@traced_function
@logger.inject_lambda_context(clear_state=True)
def begin_launch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(STAGES["begin_launch"], event, dependencies())


@lambdas.lambda_function(name="preflight")
@traced_function
@logger.inject_lambda_context(clear_state=True)
def preflight(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(STAGES["preflight"], event, dependencies())


@lambdas.lambda_function(name="request_approvals")
@traced_function
@logger.inject_lambda_context(clear_state=True)
def request_approvals(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(STAGES["request_approvals"], event, dependencies())


@lambdas.lambda_function(name="record_rollback_point")
@traced_function
@logger.inject_lambda_context(clear_state=True)
def record_rollback_point(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(STAGES["record_rollback_point"], event, dependencies())


@lambdas.lambda_function(name="deploy_frontend")
@traced_function
@logger.inject_lambda_context(clear_state=True)
def deploy_frontend(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(STAGES["deploy_frontend"], event, dependencies())


@lambdas.lambda_function(name="deploy_backend")
@traced_function
@logger.inject_lambda_context(clear_state=True)
def deploy_backend(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(STAGES["deploy_backend"], event, dependencies())


@lambdas.lambda_function(name="smoke_test")
@traced_function
@logger.inject_lambda_context(clear_state=True)
def smoke_test(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(STAGES["smoke_test"], event, dependencies())


@lambdas.lambda_function(name="begin_bake")
@traced_function
@logger.inject_lambda_context(clear_state=True)
def begin_bake(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(STAGES["begin_bake"], event, dependencies())


@lambdas.lambda_function(name="bake_checkpoint")
@traced_function
@logger.inject_lambda_context(clear_state=True)
def bake_checkpoint(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(STAGES["bake_checkpoint"], event, dependencies())


@lambdas.lambda_function(name="await_event")
@traced_function
@logger.inject_lambda_context(clear_state=True)
def await_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Every wait: opens it (with the execution's token) or looks a last time at its deadline."""
    return handle(STAGES[wait_row(str(event.get("wait", "")))], event, dependencies())


@lambdas.lambda_function(name="roll_back")
@traced_function
@logger.inject_lambda_context(clear_state=True)
def roll_back(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(STAGES["roll_back"], event, dependencies())


@lambdas.lambda_function(name="copy_batch")
@traced_function
@logger.inject_lambda_context(clear_state=True)
def copy_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from chalicelib.stages.copy_batches import run_batch

    return run_batch(event, dependencies())


@lambdas.lambda_function(name="judge_traffic_step")
@traced_function
@logger.inject_lambda_context(clear_state=True)
def judge_traffic_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """ECS's lifecycle hook at each step of a canary or linear rollout: watched, then judged."""
    from chalicelib.stages.traffic_steps import judge_hook_call

    return judge_hook_call(event, dependencies())


@lambdas.lambda_function(name="finish_launch")
@traced_function
@logger.inject_lambda_context(clear_state=True)
def finish_launch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(STAGES["finish_launch"], event, dependencies())
