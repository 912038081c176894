"""Writes the merge template for `chalice package`: deploy/resources.json with the ASL inlined and bound."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_PLACEHOLDER = re.compile(r"\$\{(\w+FunctionArn)\}")


def merge_template(resources: dict[str, Any], definition: dict[str, Any], asl_text: str) -> dict[str, Any]:
    """Inline the definition; each ${XFunctionArn} becomes the ARN of Chalice's resource X."""
    placeholders = sorted(set(_PLACEHOLDER.findall(asl_text)))
    functions = [name.removesuffix("FunctionArn") for name in placeholders]
    machine = resources["Resources"]["LaunchStateMachine"]["Properties"]
    machine["Definition"] = definition
    machine["DefinitionSubstitutions"] = {
        placeholder: {"Fn::GetAtt": [function, "Arn"]}
        for placeholder, function in zip(placeholders, functions, strict=True)
    }
    invoke = resources["Resources"]["LaunchStateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    invoke["Statement"][0]["Resource"] = [{"Fn::GetAtt": [function, "Arn"]} for function in functions]
    return resources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    asl_path = ROOT / "statemachines" / "launch.asl.json"
    asl_text = asl_path.read_text()
    resources = json.loads((ROOT / "deploy" / "resources.json").read_text())
    template = merge_template(resources, json.loads(asl_text), asl_text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(template, indent=2) + "\n")


if __name__ == "__main__":
    main()
