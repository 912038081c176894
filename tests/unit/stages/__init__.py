"""Unit tests of chalicelib/stages: each stage against moto, the harness and the stage table."""
