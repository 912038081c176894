"""The HTTP API: who is calling, what they ask, and what they are answered."""
