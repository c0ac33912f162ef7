"""Surveys (CSAT, NPS, CES) sent after resolution, and closing the loop with unhappy customers."""
