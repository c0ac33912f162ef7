"""The WhatsApp Cloud API channel: Meta's webhooks in, Graph API messages out."""
