"""Conversations (cases), their messages, attachments, tags and notes."""
