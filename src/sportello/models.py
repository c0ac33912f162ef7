"""Imports every domain's models so that the metadata is complete (Alembic, create_all)."""

from sportello.accounts import models as accounts_models
from sportello.audit import models as audit_models
from sportello.automation import models as automation_models
from sportello.campaigns import models as campaigns_models
from sportello.channels import models as channels_models
from sportello.channels.chat import models as chat_models
from sportello.channels.email import models as email_models
from sportello.channels.pbx import models as pbx_models
from sportello.channels.voice import models as voice_models
from sportello.conversations import models as conversations_models
from sportello.core import jobs, outbox
from sportello.core.db import Base
from sportello.customers import models as customers_models
from sportello.departments import models as departments_models
from sportello.frontline import models as frontline_models
from sportello.imports import models as imports_models
from sportello.knowledge import models as knowledge_models
from sportello.nlp import models as nlp_models
from sportello.orders import models as orders_models
from sportello.privacy import models as privacy_models
from sportello.quality import models as quality_models
from sportello.replies import models as replies_models
from sportello.reports import models as reports_models
from sportello.routing import models as routing_models
from sportello.surveys import models as surveys_models
from sportello.webhooks import models as webhooks_models
from sportello.workforce import models as workforce_models

metadata = Base.metadata

__all__ = [
    "accounts_models",
    "audit_models",
    "automation_models",
    "campaigns_models",
    "channels_models",
    "chat_models",
    "conversations_models",
    "customers_models",
    "departments_models",
    "email_models",
    "frontline_models",
    "imports_models",
    "jobs",
    "knowledge_models",
    "metadata",
    "nlp_models",
    "orders_models",
    "outbox",
    "pbx_models",
    "privacy_models",
    "quality_models",
    "replies_models",
    "reports_models",
    "routing_models",
    "surveys_models",
    "voice_models",
    "webhooks_models",
    "workforce_models",
]
