"""Approvers' email subscriptions: one each, filtered to their own address; confirmed to need auth to leave."""

from __future__ import annotations

import json
from typing import Any

import pytest

from launchctl.approvers import confirm, sync_subscriptions


def test_every_approver_is_subscribed_once_with_a_filter_on_their_address(aws: Any, profile: Any) -> None:
    sns = aws("sns")
    topic = sns.create_topic(Name="approvals")["TopicArn"]
    first = sync_subscriptions(sns, topic, profile)
    again = sync_subscriptions(sns, topic, profile)
    approvers = sorted({e for emails in profile.approvals.approvers.values() for e in emails})
    assert first["subscribed"] == approvers
    assert again == {"subscribed": [], "refreshed": approvers}
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert sorted(s["Endpoint"] for s in subscriptions) == approvers
    for subscription in subscriptions:
        attributes = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])["Attributes"]
        assert json.loads(attributes["FilterPolicy"]) == {"approver": [subscription["Endpoint"]]}
        assert attributes["FilterPolicyScope"] == "MessageAttributes"


def test_confirming_takes_the_token_from_the_confirmation_link(aws: Any) -> None:
    class RecordingSns:
        def __init__(self) -> None:
            self.calls: list[dict[str, str]] = []

        def confirm_subscription(self, **kwargs: str) -> dict[str, str]:
            self.calls.append(kwargs)
            return {"SubscriptionArn": "arn:aws:sns:us-east-1:1:approvals:abc"}

    sns = RecordingSns()
    link = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=t&Token=2336412f37fb6"
    assert confirm(sns, "t", link).endswith(":abc")
    assert sns.calls == [{"TopicArn": "t", "Token": "2336412f37fb6", "AuthenticateOnUnsubscribe": "true"}]
    with pytest.raises(ValueError, match="no Token"):
        confirm(sns, "t", "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription")
