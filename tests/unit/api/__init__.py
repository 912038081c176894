"""Unit tests of chalicelib/api: the routes through Chalice's test client, callers, decisions, pages."""
