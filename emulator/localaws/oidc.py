"""The local stack's stand-in for GitHub's OIDC issuer: its own key pair, its JWKS, and job tokens."""

from __future__ import annotations

import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import Any

from localaws.servers import JsonHandler, LoopbackServer

DEFAULT_JOB: dict[str, str] = {
    "repository": "acme/shop",
    "repository_id": "700100",
    "repository_owner": "acme",
    "repository_owner_id": "700",
    "ref": "refs/tags/v1.1.0",
    "ref_type": "tag",
    "ref_protected": "true",
    "environment": "local",
    "workflow": "release",
    "job_workflow_ref": "acme/shop/.github/workflows/release.yml@refs/tags/v1.1.0",
    "event_name": "push",
    "actor": "riley-release",
    "run_id": "9000001",
    "run_attempt": "1",
    "sha": "abcdef1234567890abcdef1234567890abcdef12",
}


def github_subject(claims: dict[str, str]) -> str:
    """GitHub's default sub: the environment when the job has one, else the ref."""
    if claims.get("environment"):
        return f"repo:{claims['repository']}:environment:{claims['environment']}"
    return f"repo:{claims['repository']}:ref:{claims.get('ref', '')}"


class SigningKey:
    """An RSA key pair with a key id, as an issuer publishes it."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)

    def jwk(self) -> dict[str, Any]:
        from jwt.algorithms import RSAAlgorithm

        key = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**key, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def sign(self, claims: dict[str, Any], algorithm: str = "RS256") -> str:
        import jwt

        return jwt.encode(claims, self.private_key, algorithm=algorithm, headers={"kid": self.kid})


class LocalIssuer:
    """Serves /.well-known/openid-configuration, /.well-known/jwks, and the runner's token endpoint.

    The token endpoint answers like GitHub's ACTIONS_ID_TOKEN_REQUEST_URL: a job's request token
    in `Authorization: bearer …`, the audience in the query, `{"value": "<jwt>"}` back."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, audience: str = "launch-controller") -> None:
        self.key = SigningKey()
        self.audience = audience
        self._jobs: dict[str, dict[str, str]] = {}
        self._server = LoopbackServer((host, port), self._handler())
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="oidc-issuer", daemon=True)

    def start(self) -> LocalIssuer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def issue(
        self,
        lifetime: int = 300,
        audience: str | None = None,
        issuer: str | None = None,
        key: SigningKey | None = None,
        **job: str,
    ) -> str:
        """A token as GitHub would sign it for a job with these claims (defaults: acme/shop, `local`)."""
        claims: dict[str, Any] = {**DEFAULT_JOB, **job}
        moment = int(time.time())
        claims.update(
            sub=github_subject(claims),
            aud=audience or self.audience,
            iss=issuer or self.url,
            iat=moment,
            nbf=moment - 5,
            exp=moment + lifetime,
            jti=secrets.token_hex(8),
        )
        return (key or self.key).sign(claims)

    def job(self, **claims: str) -> tuple[str, str]:
        """Register a job; (ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN) for its steps."""
        request_token = secrets.token_urlsafe(24)
        self._jobs[request_token] = {**DEFAULT_JOB, **claims}
        return f"{self.url}/_actions/token?api-version=2.0", request_token

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urllib.parse.urlsplit(self.path)
                if url.path == "/.well-known/openid-configuration":
                    self._answer(
                        200,
                        {
                            "issuer": issuer.url,
                            "jwks_uri": f"{issuer.url}/.well-known/jwks",
                            "response_types_supported": ["id_token"],
                            "subject_types_supported": ["public"],
                            "id_token_signing_alg_values_supported": ["RS256"],
                        },
                    )
                elif url.path == "/.well-known/jwks":
                    self._answer(200, {"keys": [issuer.key.jwk()]})
                elif url.path == "/_actions/token":
                    scheme, _, request_token = (self.headers.get("Authorization") or "").partition(" ")
                    job = issuer._jobs.get(request_token.strip()) if scheme.lower() == "bearer" else None
                    if job is None:
                        self._answer(401, {"message": "not a job's request token"})
                        return
                    audience = urllib.parse.parse_qs(url.query).get("audience", [issuer.audience])[0]
                    self._answer(200, {"value": issuer.issue(audience=audience, **job)})  # type: ignore[arg-type]
                else:
                    self._answer(404, {"message": "not found"})

        return Handler
