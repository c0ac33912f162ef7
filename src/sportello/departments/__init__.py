"""Other departments: side conversations by email with colleagues, and hand-offs."""
