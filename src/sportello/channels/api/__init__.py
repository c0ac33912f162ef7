"""The api channel: messages in through REST with the channel token, replies out as signed
webhooks."""
