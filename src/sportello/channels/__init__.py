"""Channel plug-ins: one folder a kind, found through the registry."""
