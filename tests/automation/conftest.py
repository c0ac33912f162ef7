"""Rule tests: the rules' handler and sweep job registered, the SLA handlers too."""

from __future__ import annotations

import sportello.automation.handlers
import sportello.routing.sla  # noqa: F401  (SLA clocks start on conversation.created)
