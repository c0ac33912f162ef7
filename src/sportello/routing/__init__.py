"""Routing and SLA: business-hours calendars, SLA clocks and queue assignment."""
