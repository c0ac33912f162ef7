"""Importing this registers the knowledge base's event handlers (the bot, the message indexer)."""

from sportello.knowledge import bot, indexing

__all__ = ["bot", "indexing"]
