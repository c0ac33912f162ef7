"""Pydantic shapes of channels for the REST API. Secrets are write-only: a channel's answer
names the secrets it stores, never their values; new generated ones are returned once."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class CapabilitiesRead(BaseModel):
    replies: bool
    reaches: str | None
    bot: bool
    buttons: bool
    templates: bool


class ChannelRead(BaseModel):
    id: int
    kind: str
    name: str
    public_id: str
    queue_id: int | None
    is_active: bool
    settings: dict[str, Any] = Field(description="What the channel's form shows; no secrets")
    secrets_stored: list[str] = Field(description="Names of the stored secrets (never values)")
    capabilities: CapabilitiesRead
    created_at: datetime


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(max_length=32, examples=["api"])
    name: str = Field(min_length=1, max_length=200, examples=["App mobile"])
    queue_id: int | None = None
    is_active: bool = True
    settings: dict[str, str] = Field(
        default_factory=dict,
        description="The kind's form fields as strings (e.g. reply_url for api; address, "
        "imap_host, smtp_host, imap_password... for email). Secrets are write-only.",
        examples=[{"reply_url": "https://app.example.it/sportello"}],
    )


class ChannelCreated(BaseModel):
    channel: ChannelRead
    secrets: dict[str, str] = Field(description="Generated secrets, shown this once only")


class ChannelUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    queue_id: int | None = Field(default=None, description="0 removes the queue")
    is_active: bool | None = None
    settings: dict[str, str] | None = Field(
        default=None,
        description="The kind's form fields; fields left out keep their value, a secret left "
        "out or blank keeps the stored one",
    )


class BotSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool
    name: str = Field(default="", max_length=80)
    greeting: str = Field(default="", max_length=1000)
    threshold: float = Field(default=50, ge=0, le=100, description="Confidence, in percent")
    handover_words: list[str] = Field(default_factory=list, max_length=30)


class BotRead(BotSettings):
    pass


class BotCalibrationRow(BaseModel):
    threshold: float = Field(description="Confidence, in percent")
    right: int = Field(description="Judged answers at or above it the customer said helped")
    wrong: int = Field(description="Judged answers at or above it that did not help")
    handed_over: int = Field(description="Judged answers below it: a person would take them")


class BotCalibration(BaseModel):
    cases: int = Field(description="Answers of the bot on this channel customers judged")
    enough: bool = Field(description="False under 20 cases: the table says little yet")
    source: Literal["channel", "evaluation"] = Field(
        description="What the rows count: this channel's judged answers, or (under 20 of them) "
        "the bundled evaluation set's colloquial Italian questions"
    )
    source_cases: int = Field(description="Answers (or evaluation questions) the rows count")
    rows: list[BotCalibrationRow]


class SecretsRotated(BaseModel):
    secrets: dict[str, str] = Field(description="The new secrets, shown this once only")


class ReplyOptionRead(BaseModel):
    channel_id: int
    name: str
    kind: str
    own: bool = Field(description="The conversation's own channel")
    can_deliver: bool
    problem: str | None = Field(description="Why a reply there would not be delivered")
    default: bool = Field(description="Where the console's composer replies by default")
