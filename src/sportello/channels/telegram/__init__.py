"""The Telegram Bot API channel: webhook updates in, sendMessage / sendDocument out."""
