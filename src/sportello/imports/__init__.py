"""Moving in with one's history: customers and past conversations from CSV, Zendesk, Freshdesk
and Zammad exports."""
