"""The launch controller's CLI and its embedded local AWS; never deployed to Lambda."""
