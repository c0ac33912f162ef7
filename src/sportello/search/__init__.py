"""Search across customers, conversations and messages for the console and the API."""
