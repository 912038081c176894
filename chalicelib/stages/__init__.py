"""The checklist's stages, one module each, as plain functions over injected AWS clients."""
