"""Users, roles, teams, sessions and API tokens."""
