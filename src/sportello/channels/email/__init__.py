"""Email channel: pure parsing of raw messages (no I/O)."""
