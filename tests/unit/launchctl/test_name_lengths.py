"""Every name either template gives a resource is within its service's limit at the longest values the
parameters admit: the copy-plan bucket reached 69 characters (S3: 63), the forwarding rules 77 (EventBridge:
64), and moto made both."""

from __future__ import annotations

from launchctl.build.name_lengths import name_problems


def test_the_controllers_names_fit_their_services_at_the_longest_prefix() -> None:
    from launchctl.build.template import sam_template

    assert name_problems(sam_template()) == []


def test_the_environment_roles_names_fit_their_services_at_the_longest_prefix_and_environment() -> None:
    from launchctl.build.target_role import longest_lists, target_template

    assert name_problems(target_template(), longest_lists()) == []


def test_the_name_check_finds_a_bucket_name_past_63_characters() -> None:
    template = {
        "Parameters": {"Prefix": {"Type": "String", "MaxLength": 30}},
        "Resources": {
            "Plans": {
                "Type": "AWS::S3::Bucket",
                "Properties": {"BucketName": {"Fn::Sub": "${Prefix}-copy-plans-${AWS::AccountId}-${AWS::Region}"}},
            }
        },
    }
    assert name_problems(template) == ["Plans: BucketName reaches 69 characters, past 63"]
