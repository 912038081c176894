"""Unit tests of chalicelib/events: the event handlers, the executions' ends, the watch."""
