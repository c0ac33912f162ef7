"""The app's wiring in one place: which routers the web app serves, which modules register event
handlers and durable jobs, and which periodic jobs must exist. ``serve`` (``main.create_app``),
``worker`` (``cli.worker``) and the tests call these; nothing else relies on an import's side
effect to be wired.

A new domain adds its routers to ``ROUTERS``, its handler module to ``HANDLERS`` and, if it has a
periodic job, a line to ``PERIODIC``; its demo goes in ``demo.DOMAIN_DEMOS``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Coroutine
    from typing import Any

    from sportello.core.db import Database

ROUTERS: tuple[str, ...] = (
    "sportello.web.ws",
    "sportello.channels.webhooks",
    "sportello.accounts.pages",
    "sportello.conversations.pages",
    "sportello.replies.pages",
    "sportello.replies.api",
    "sportello.customers.pages",
    "sportello.channels.pages",
    "sportello.channels.email.pages",
    "sportello.channels.rest",
    "sportello.channels.demo",
    "sportello.routing.pages",
    "sportello.routing.console",
    "sportello.accounts.api",
    "sportello.customers.api",
    "sportello.routing.api",
    "sportello.conversations.api",
    "sportello.knowledge.helpcenter",
    "sportello.knowledge.pages",
    "sportello.knowledge.api",
    "sportello.web.docs",
    "sportello.channels.chat.routes",
    "sportello.surveys.pages",
    "sportello.surveys.api",
    "sportello.demo_pages",
    "sportello.search.pages",
    "sportello.search.api",
    "sportello.workforce.api",
    "sportello.workforce.pages",
    "sportello.reports.pages",
    "sportello.reports.api",
    "sportello.webhooks.pages",
    "sportello.webhooks.api",
    "sportello.orders.pages",
    "sportello.orders.api",
    "sportello.orders.fakeshop",
    "sportello.automation.pages",
    "sportello.automation.api",
    "sportello.quality.pages",
    "sportello.quality.api",
    "sportello.audit.pages",
    "sportello.audit.api",
    "sportello.privacy.pages",
    "sportello.privacy.api",
    "sportello.accounts.sso_pages",
    "sportello.accounts.sso_api",
    "sportello.frontline.pages",
    "sportello.frontline.api",
    "sportello.nlp.pages",
    "sportello.nlp.api",
    "sportello.campaigns.pages",
    "sportello.campaigns.api",
    "sportello.channels.voice.kamailio_hooks",
    "sportello.channels.voice.api",
    "sportello.channels.voice.pages",
    "sportello.imports.pages",
    "sportello.imports.api",
    "sportello.departments.pages",
    "sportello.departments.api",
    "sportello.channels.pbx.api",
    "sportello.channels.pbx.pages",
)

# Modules that register event handlers and job kinds, in this order (registration order is the
# order handlers of one event run in: the SLA clocks before the report facts that read them).
HANDLERS: tuple[str, ...] = (
    "sportello.channels.service",  # delivery jobs, pending media, statuses
    "sportello.knowledge.handlers",  # the bot, the search index
    "sportello.routing.handlers",  # offers, assignment, the routing sweep
    "sportello.routing.sla",  # SLA clocks
    "sportello.reports.handlers",  # aggregate upkeep, alerts, the weekly e-mail
    "sportello.surveys.handlers",  # survey sending and follow-ups
    "sportello.nlp.handlers",  # sentiment, triage, language (before the rules that read them)
    "sportello.automation.handlers",  # rules and the time-based sweep
    "sportello.frontline.handlers",  # the required-briefing offer gate, notification e-mail
    "sportello.privacy.handlers",  # the nightly retention job
    "sportello.quality.handlers",  # the daily review sampling
    "sportello.webhooks.handlers",  # event webhook deliveries
    "sportello.campaigns.handlers",  # paced campaign sends, opt-outs
    "sportello.imports.handlers",  # import jobs (dry runs and runs)
    "sportello.departments.handlers",  # side mails, hand-off mails, the email side door
    "sportello.channels.pbx.handlers",  # queue pause on the PBX follows the agent's pause
)

# Periodic jobs (module, function taking the Database): each makes sure its next run is queued
# (unique keys: calling them again is harmless).
PERIODIC: tuple[tuple[str, str], ...] = (
    ("sportello.routing.handlers", "ensure_sweep"),  # the routing / SLA sweep
    ("sportello.reports.handlers", "ensure_jobs"),  # wallboard alerts, weekly report
    ("sportello.automation.handlers", "ensure_sweep"),  # time-based rules, every minute
    ("sportello.quality.handlers", "ensure_scheduled"),  # daily review sampling
    ("sportello.privacy.handlers", "ensure_jobs"),  # nightly retention
    ("sportello.nlp.handlers", "ensure_jobs"),  # nightly triage retraining
)


# Long-running tasks of the worker (module, coroutine function taking the Database and the stop
# event): started beside the dispatcher by ``worker`` and by ``serve`` with embedded workers.
LONG_RUNNING: tuple[tuple[str, str], ...] = (
    ("sportello.channels.pbx.link", "run_links"),  # the AMI links to customers' PBXs
)


def long_running(db: Database, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
    """The long-running tasks' coroutines, to be awaited beside the dispatcher."""
    return [getattr(import_module(m), f)(db, stop) for m, f in LONG_RUNNING]


def load_handlers() -> None:
    """Register every domain's event handlers and job kinds (idempotent)."""
    for module in HANDLERS:
        import_module(module)


def schedule_periodic(db: Database) -> None:
    """Queue the next run of every periodic job that has none."""
    for module, function in PERIODIC:
        getattr(import_module(module), function)(db)
