"""Deployment settings the Lambdas read from their environment (set by the template)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from chalicelib.platform import runtime

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


class IdentityConfig(BaseModel):
    """What this deployment trusts: the OIDC issuer and audience, and the STS endpoint to ask."""

    oidc_issuer: str = GITHUB_ISSUER
    oidc_audience: str  # no default: each deployment's own (Settings.identity), never one shared by all
    jwks_url: str = ""
    sts_endpoint: str = "https://sts.us-east-1.amazonaws.com"

    @property
    def keys_url(self) -> str:
        return self.jwks_url or self.oidc_issuer.rstrip("/") + "/.well-known/jwks"


class Settings(BaseModel):
    """Names of the controller's own resources, bound at deploy time."""

    table_name: str = Field(min_length=1)
    state_machine_arn: str = ""
    approvals_topic_arn: str = ""
    notifications_topic_arn: str = ""
    paging_topic_arn: str = ""  # what pages a person: the controller's alarms, a failed rollback
    public_api_url: str = ""
    approval_key_secret_id: str = "launch-controller/approval-link-key"  # noqa: S105 - a secret's name
    github_app_secret_id: str = ""  # the controller's GitHub App, which reads the release's checks
    lark_bot_secret_id: str = ""  # the team's Lark group's custom bot (its webhook and signing secret), if any
    oidc_issuer: str = GITHUB_ISSUER
    # Empty: each request's own API host (requestContext.domainName), so a token minted for one controller is
    # no good at another; a deployment may name one audience instead (OidcAudience).
    oidc_audience: str = ""
    oidc_jwks_url: str = ""
    sts_endpoint: str = ""
    copy_plan_bucket: str = ""  # where the frontend stages plan copies for the state machine's batches
    traffic_hook_arn: str = ""  # judge_traffic_step, the lifecycle hook ECS invokes at each step of a rollout
    evidence_key_id: str = ""  # the KMS key that seals a launch's timeline at its end (only the ends may sign)

    def identity(self, host: str = "") -> IdentityConfig:
        """What this deployment trusts, for a request that arrived at `host` (the API's own domain)."""
        audience = self.oidc_audience or host
        if not audience:
            raise ValueError("no audience: OIDC_AUDIENCE is empty and the request names no host")
        environ = runtime.environ()
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return IdentityConfig(
            oidc_issuer=self.oidc_issuer,
            oidc_audience=audience,
            jwks_url=self.oidc_jwks_url,
            sts_endpoint=self.sts_endpoint or f"https://sts.{region}.amazonaws.com",
        )


@runtime.kept
def settings() -> Settings:
    environ = runtime.environ()
    return Settings(
        table_name=environ.get("LAUNCH_TABLE", "launch-controller"),
        state_machine_arn=environ.get("LAUNCH_STATE_MACHINE_ARN", ""),
        approvals_topic_arn=environ.get("APPROVALS_TOPIC_ARN", ""),
        notifications_topic_arn=environ.get("NOTIFICATIONS_TOPIC_ARN", ""),
        paging_topic_arn=environ.get("PAGING_TOPIC_ARN", ""),
        public_api_url=environ.get("PUBLIC_API_URL", "").rstrip("/"),
        approval_key_secret_id=environ.get("APPROVAL_KEY_SECRET_ID", "launch-controller/approval-link-key"),
        github_app_secret_id=environ.get("GITHUB_APP_SECRET_ID", ""),
        lark_bot_secret_id=environ.get("LARK_BOT_SECRET_ID", ""),
        oidc_issuer=environ.get("OIDC_ISSUER", GITHUB_ISSUER),
        oidc_audience=environ.get("OIDC_AUDIENCE", ""),
        oidc_jwks_url=environ.get("OIDC_JWKS_URL", ""),
        sts_endpoint=environ.get("STS_ENDPOINT_URL", ""),
        copy_plan_bucket=environ.get("COPY_PLAN_BUCKET", ""),
        traffic_hook_arn=environ.get("TRAFFIC_HOOK_ARN", ""),
        evidence_key_id=environ.get("EVIDENCE_KEY_ID", ""),
    )
