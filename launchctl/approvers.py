"""Approvers' email subscriptions: one per approver, filtered to the messages that name them."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from chalicelib.domain.profiles import EnvironmentProfile


def filter_policy(approver: str) -> str:
    return json.dumps({"approver": [approver.lower()]})


def sync_subscriptions(sns: Any, topic_arn: str, profile: EnvironmentProfile) -> dict[str, list[str]]:
    """Subscribe every approver of the profile by email with a filter on their own address.

    Existing subscriptions get their filter set again; nobody is unsubscribed (they may approve elsewhere).
    AWS then mails each new address a confirmation: run `launchctl approvers confirm` with its link."""
    wanted = sorted({email.lower() for emails in profile.approvals.approvers.values() for email in emails})
    existing: dict[str, str] = {}
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for subscription in page["Subscriptions"]:
            if subscription["Protocol"] == "email":
                existing[subscription["Endpoint"].lower()] = subscription["SubscriptionArn"]
    added, updated = [], []
    for approver in wanted:
        arn = existing.get(approver)
        if arn and arn.startswith("arn:"):
            sns.set_subscription_attributes(
                SubscriptionArn=arn, AttributeName="FilterPolicy", AttributeValue=filter_policy(approver)
            )
            updated.append(approver)
            continue
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="email",
            Endpoint=approver,
            Attributes={"FilterPolicy": filter_policy(approver), "FilterPolicyScope": "MessageAttributes"},
            ReturnSubscriptionArn=True,
        )
        added.append(approver)
    return {"subscribed": added, "refreshed": updated}


def confirm(sns: Any, topic_arn: str, link_or_token: str) -> str:
    """Confirm a subscription from the link in AWS's confirmation email, so that unsubscribing needs
    AWS credentials: mail scanners follow unsubscribe links too, and would silently drop an approver."""
    token = link_or_token
    if link_or_token.startswith("http"):
        token = parse_qs(urlsplit(link_or_token).query).get("Token", [""])[0]
    if not token:
        raise ValueError("no Token in that confirmation link")
    confirmed = sns.confirm_subscription(TopicArn=topic_arn, Token=token, AuthenticateOnUnsubscribe="true")
    subscription: str = confirmed["SubscriptionArn"]
    return subscription
