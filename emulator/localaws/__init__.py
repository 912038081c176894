"""The embedded local AWS: the emulated account (moto), the Lambda bridge, ECS's scheduler, the outbox,
the OIDC issuer, the sample site and the breakers; never deployed, never reaching AWS."""
