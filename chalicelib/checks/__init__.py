"""The checklist's preflight checks: the infrastructure, security and monitoring checks, and the release's own."""
