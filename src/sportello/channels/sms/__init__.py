"""SMS (and MMS, and WhatsApp through Twilio) via a Twilio-compatible REST API."""
