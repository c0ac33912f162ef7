"""Outbound campaigns: lists, call and message campaigns, do-not-call, consent."""
