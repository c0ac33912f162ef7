"""Imports every domain's models so that the metadata is complete (Alembic, create_all)."""

from sportello.accounts import models as accounts_models
from sportello.channels import models as channels_models
from sportello.channels.chat import models as chat_models
from sportello.channels.email import models as email_models
from sportello.channels.voice import models as voice_models
from sportello.conversations import models as conversations_models
from sportello.core import jobs, outbox
from sportello.core.db import Base
from sportello.customers import models as customers_models
from sportello.knowledge import models as knowledge_models
from sportello.replies import models as replies_models
from sportello.reports import models as reports_models
from sportello.routing import models as routing_models
from sportello.surveys import models as surveys_models
from sportello.workforce import models as workforce_models

metadata = Base.metadata

__all__ = [
    "accounts_models",
    "channels_models",
    "chat_models",
    "conversations_models",
    "customers_models",
    "email_models",
    "jobs",
    "knowledge_models",
    "metadata",
    "outbox",
    "replies_models",
    "reports_models",
    "routing_models",
    "surveys_models",
    "voice_models",
    "workforce_models",
]
