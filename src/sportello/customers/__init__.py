"""Customers, their identities on every channel, and merges."""
