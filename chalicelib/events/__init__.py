"""What happens between steps: the watch over running launches and the executions' own ends."""
