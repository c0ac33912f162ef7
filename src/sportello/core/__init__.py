"""Shared infrastructure: database, events, outbox, jobs, realtime hub, security, i18n."""
