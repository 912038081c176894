"""What the controller stands on: AWS clients, settings, profiles kept in SSM, links, chat, telemetry, logs."""
