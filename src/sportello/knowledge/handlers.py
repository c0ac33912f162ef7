"""Importing this registers the knowledge base's event handlers (the bot, the message indexer,
learning from agents' answers)."""

from sportello.knowledge import bot, indexing, learning

__all__ = ["bot", "indexing", "learning"]
