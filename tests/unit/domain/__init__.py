"""Unit tests of chalicelib/domain: models, profiles, caller text, service events."""
