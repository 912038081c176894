"""Unit tests of chalicelib/checks: the preflight checklist and the release's checks."""
