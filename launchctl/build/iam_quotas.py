"""IAM's size quotas, checked where they bite: a template's policies resolved with the longest values its
parameters admit (`worst_case`), as IAM counts them (no white space)."""

from __future__ import annotations

import json
import re
from typing import Any


def policy_size(document: Any) -> int:
    """A policy's size as IAM counts it: its characters without white space."""
    text = document if isinstance(document, str) else json.dumps(document)
    return len(re.sub(r"\s", "", text))


# docs/limits.md: what IAM refuses past.
ATTACHED_POLICIES_PER_ROLE = 10
MANAGED_POLICY_CHARACTERS = 6144
INLINE_POLICIES_CHARACTERS = 10240
TRUST_POLICY_CHARACTERS = 2048

# The longest each of CloudFormation's pseudo parameters is (the partition aws-us-gov, regions such as
# ap-southeast-3, a stack's name).
PSEUDO_PARAMETERS = {
    "AWS::Partition": "p" * 10,
    "AWS::Region": "r" * 14,
    "AWS::AccountId": "1" * 12,
    "AWS::URLSuffix": "u" * 16,
    "AWS::StackName": "s" * 128,
}
# What a reference to another resource of the template stands for (its name or ARN) when its length is not
# known from the template: longer than any ARN the controller's resources have.
RESOURCE_REFERENCE = 200

_NO_VALUE: Any = object()


def longest_parameter(name: str, spec: dict[str, Any]) -> str:
    """The longest value a String parameter admits: its MaxLength, else its AllowedPattern's last `{0,n}`."""
    if "MaxLength" in spec:
        return "a" * int(spec["MaxLength"])
    match = re.search(r"\{0,(\d+)\}\$$", spec.get("AllowedPattern", ""))
    if match is None:
        raise ValueError(f"{name}: no MaxLength, and its pattern says no length")
    return "a" * (int(match.group(1)) + 1)


def worst_case(value: Any, parameters: dict[str, Any], lists: dict[str, list[str]] | None = None) -> Any:
    """`value` as CloudFormation would resolve it with the longest value of every parameter (`lists`: the
    longest value of each list parameter): Fn::Sub, Ref, Fn::GetAtt, Fn::Join; Fn::If takes its longer branch,
    AWS::NoValue drops the item; a reference to a resource stands for RESOURCE_REFERENCE characters."""
    lists = lists or {}

    def named(name: str) -> Any:
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in lists:
            return lists[name]
        if name in parameters:
            if parameters[name]["Type"] != "String":
                raise ValueError(f"{name}: a {parameters[name]['Type']} parameter whose longest value is not given")
            return longest_parameter(name, parameters[name])
        return "R" * RESOURCE_REFERENCE  # a resource's Ref, or `${Resource.Attribute}`

    if isinstance(value, list):
        resolved = [worst_case(item, parameters, lists) for item in value]
        return [item for item in resolved if item is not _NO_VALUE]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return _NO_VALUE if value["Ref"] == "AWS::NoValue" else named(value["Ref"])
    if set(value) == {"Fn::GetAtt"}:
        return "A" * RESOURCE_REFERENCE
    if set(value) == {"Fn::Sub"}:
        text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
        return re.sub(r"\$\{([\w:.]+)\}", lambda m: str(named(m.group(1))), text)
    if set(value) == {"Fn::Join"}:
        separator, items = value["Fn::Join"]
        joined = worst_case(items, parameters, lists)
        joined = joined if isinstance(joined, list) else [joined]
        flat = [part for item in joined for part in (item if isinstance(item, list) else [item])]
        return separator.join(str(part) for part in flat)
    if set(value) == {"Fn::If"}:
        _, then, otherwise = value["Fn::If"]
        branches = [worst_case(then, parameters, lists), worst_case(otherwise, parameters, lists)]
        return max(branches, key=lambda branch: -1 if branch is _NO_VALUE else len(json.dumps(branch)))
    return {key: worst_case(item, parameters, lists) for key, item in value.items()}


def characters(document: Any, parameters: dict[str, Any], lists: dict[str, list[str]] | None = None) -> int:
    """A policy document's size as IAM counts it, at the longest values the parameters admit."""
    return policy_size(worst_case(document, parameters, lists))


def quota_problems(template: dict[str, Any], lists: dict[str, list[str]] | None = None) -> list[str]:
    """Every role, managed policy and trust policy of `template` past IAM's quotas at the longest values its
    parameters admit: what IAM would refuse when the stack is made."""
    parameters = template.get("Parameters", {})
    resources = template.get("Resources", {})
    problems = []
    attached: dict[str, int] = {}
    for key, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            size = characters(properties["PolicyDocument"], parameters, lists)
            if size > MANAGED_POLICY_CHARACTERS:
                problems.append(f"{key}: {size} characters, past IAM's {MANAGED_POLICY_CHARACTERS}")
            for role in properties.get("Roles", []):
                target = role.get("Ref") if isinstance(role, dict) else role
                attached[str(target)] = attached.get(str(target), 0) + 1
        if resource["Type"] == "AWS::IAM::Role":
            trust = characters(properties["AssumeRolePolicyDocument"], parameters, lists)
            if trust > TRUST_POLICY_CHARACTERS:
                problems.append(f"{key}: a trust policy of {trust} characters, past IAM's {TRUST_POLICY_CHARACTERS}")
            inline = sum(characters(p["PolicyDocument"], parameters, lists) for p in properties.get("Policies", []))
            if inline > INLINE_POLICIES_CHARACTERS:
                problems.append(
                    f"{key}: inline policies of {inline} characters, past IAM's {INLINE_POLICIES_CHARACTERS}"
                )
            attached[key] = attached.get(key, 0) + len(properties.get("ManagedPolicyArns", []))
    problems += [
        f"{role}: {count} managed policies attached, past IAM's {ATTACHED_POLICIES_PER_ROLE}"
        for role, count in sorted(attached.items())
        if count > ATTACHED_POLICIES_PER_ROLE
    ]
    return problems
