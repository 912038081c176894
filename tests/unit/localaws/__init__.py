"""Unit tests of the embedded local AWS (emulator/localaws)."""
