"""The stage table: every Lambda runs rows of it and nothing else, and each row is declared by its module."""

from __future__ import annotations

import inspect

import pytest

from chalicelib.stages.table import STAGES


def test_every_stage_lambda_runs_rows_of_the_stage_table_and_nothing_else() -> None:
    import app
    from chalicelib.stages.harness import WAIT_FUNCTION

    functions = {function.name: function for function in app.app.pure_lambda_functions}
    # The one other: a Distributed Map's child, which makes a batch of a stage's copies.
    batch = functions.pop("copy_batch")
    assert inspect.getsource(batch.func).strip().splitlines()[-1].strip() == "return run_batch(event, dependencies())"
    # And ECS's lifecycle hook, which ECS invokes at each step of a canary or linear rollout.
    hook = functions.pop("judge_traffic_step")
    last = inspect.getsource(hook.func).strip().splitlines()[-1].strip()
    assert last == "return judge_hook_call(event, dependencies())"
    assert set(functions) == {spec.function_name for spec in STAGES.values()}
    for name, function in functions.items():
        body = inspect.getsource(function.func).strip().splitlines()[-1].strip()
        row = 'wait_row(str(event.get("wait", "")))' if name == WAIT_FUNCTION else f'"{name}"'
        assert body == f"return handle(STAGES[{row}], event, dependencies())", name
    waits = {name for name, spec in STAGES.items() if spec.function_name == WAIT_FUNCTION}
    assert waits == {f"wait_for_{kind}" for kind in ("snapshot", "migration", "rollout", "restore", "alarms", "canary")}


@pytest.mark.parametrize(
    "row",
    [("chalicelib.stages.smoke", "NO_SUCH_SPEC"), ("chalicelib.stages.bake", "BEGIN_BAKE")],
    ids=["none", "another"],
)
def test_a_row_whose_module_does_not_declare_its_step_is_refused(
    row: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.stages import table

    monkeypatch.setitem(table.ROWS, "smoke_test", row)
    with pytest.raises(LookupError, match="does not declare the step smoke_test"):
        STAGES["smoke_test"]


def test_every_row_resolves_to_the_spec_of_its_own_name() -> None:
    assert all(spec.name == name for name, spec in STAGES.items())
