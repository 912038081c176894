"""Unit tests of chalicelib/platform: clients, runtime, profile store, links, chat, telemetry."""
