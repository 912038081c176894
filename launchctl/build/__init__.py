"""Building what is deployed: the state machine's definition bound to its functions, and the merge template."""
