"""Email channel: mailboxes over IMAP (in) and SMTP (out); parsing and quote folding are pure."""
