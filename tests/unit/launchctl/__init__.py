"""Unit tests of launchctl/: the CLI's client, the build, the packaged template, the docs."""
