"""The services the preflight checks read: what the preflight stage's row and the API's report reach."""

from __future__ import annotations

# Every service a preflight check reads in the environment (`@cloudfront`: in us-east-1, where CloudFront's
# certificates and web ACLs live; STS: who the environment's role is), and in the controller's account (its
# topics).
PREFLIGHT_SERVICES = (
    "acm@cloudfront",
    "cloudfront",
    "cloudfront-keyvaluestore",
    "cloudwatch",
    "ec2",
    "ecr",
    "ecs",
    "elbv2",
    "kms",
    "logs",
    "rds",
    "s3",
    "secretsmanager",
    "shield",
    "sts",
    "wafv2",
    "wafv2@cloudfront",
    "iam",
    "iam@controller",
)
PREFLIGHT_OWN_SERVICES = ("sns",)
