"""Writes the merge template for `chalice package`: deploy/resources.json with the ASL inlined and bound."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from launchctl.build.asl import ASL_PATH, resource_names

ROOT = Path(__file__).resolve().parents[2]


def merge_template(resources: dict[str, Any], asl_text: str) -> dict[str, Any]:
    """Inline the definition; each ${XFunctionArn} becomes the ARN of Chalice's resource X."""
    functions = resource_names(asl_text)
    machine = resources["Resources"]["LaunchStateMachine"]["Properties"]
    machine["Definition"] = json.loads(asl_text)
    machine["DefinitionSubstitutions"] = {
        f"{function}FunctionArn": {"Fn::GetAtt": [function, "Arn"]} for function in functions
    }
    invoke = resources["Resources"]["LaunchStateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    invoke["Statement"][0]["Resource"] = [{"Fn::GetAtt": [function, "Arn"]} for function in functions]
    return resources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    resources = json.loads((ROOT / "deploy" / "resources.json").read_text())
    template = merge_template(resources, ASL_PATH.read_text())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(template, indent=2) + "\n")


if __name__ == "__main__":
    main()
