"""API shapes of the routing settings (REST API v1)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Mode = Literal["push", "auto"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class SkillRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str


class SkillWrite(BaseModel):
    name: str = Field(max_length=100, examples=["Resi"])


class SkillLevel(BaseModel):
    level: int | None = Field(
        ge=1, le=5, description="1 (beginner) to 5 (expert); null takes the skill away"
    )


class SkillMatrix(BaseModel):
    skills: list[SkillRead]
    levels: list[AgentLevel]


class AgentLevel(BaseModel):
    user_id: int
    skill_id: int
    level: int


class Requirement(BaseModel):
    skill_id: int
    min_level: int = Field(ge=1, le=5)


class QueueRoutingRead(BaseModel):
    queue_id: int
    mode: Mode
    offer_timeout_seconds: int
    overflow_queue_id: int | None
    overflow_after_seconds: int | None
    calendar_id: int | None
    member_ids: list[int]
    requirements: list[Requirement]


class QueueRoutingWrite(BaseModel):
    mode: Mode = Field(
        default="push", description="push: offer with a countdown; auto: assign at once"
    )
    offer_timeout_seconds: int = Field(default=30, ge=5, le=600)
    overflow_queue_id: int | None = None
    overflow_after_seconds: int | None = Field(default=None, ge=0)
    calendar_id: int | None = None
    member_ids: list[int] = Field(default_factory=list, description="Explicit members")
    requirements: list[Requirement] = Field(
        default_factory=list, description="Every required skill; skills left out are not required"
    )


class Capacity(BaseModel):
    """Conversations held at once per channel class; null inherits (person → team → default)."""

    voice: int | None = Field(default=None, ge=0, le=1000)
    chat: int | None = Field(default=None, ge=0, le=1000)
    messaging: int | None = Field(default=None, ge=0, le=1000)
    email: int | None = Field(default=None, ge=0, le=1000)


class Released(BaseModel):
    released: int = Field(description="Conversations put back in their queues")


class PauseReasonRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    is_active: bool


class PauseReasonWrite(BaseModel):
    name: str = Field(max_length=100, examples=["Pranzo"])


class Closure(BaseModel):
    start: date
    end: date = Field(description="The last closed day (included)")


class CalendarWrite(BaseModel):
    name: str = Field(max_length=200, examples=["Orari negozio"])
    weekly: dict[Weekday, list[tuple[str, str]]] = Field(
        description='Opening ranges a day, e.g. {"mon": [["09:00", "13:00"], ["14:00", "18:00"]]}'
    )
    country_holidays: bool = Field(default=True, description="Closed on Italian public holidays")
    subdiv: str | None = Field(
        default=None, max_length=20, description="Province code for its patron saint, e.g. MI"
    )
    patron_day: tuple[int, int] | None = Field(default=None, description="[month, day]")
    closures: list[Closure] = Field(default_factory=list)


class CalendarRead(CalendarWrite):
    id: int
    holidays: list[Holiday] = Field(description="The days closed this year, with their names")


class Holiday(BaseModel):
    day: date
    name: str


class TeamCalendar(BaseModel):
    calendar_id: int | None


class SlaPolicyWrite(BaseModel):
    name: str = Field(max_length=200)
    queue_id: int | None = None
    channel_id: int | None = None
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    first_response_seconds: int | None = Field(default=None, description="> 0, or null")
    next_response_seconds: int | None = Field(
        default=None, description="After the first reply, each new customer message: > 0, or null"
    )
    resolution_seconds: int | None = Field(default=None, description="> 0, or null")
    calendar_id: int | None = Field(
        default=None, description="null: the queue's calendar, else its team's, else 24/7"
    )
    warning_fraction: float = Field(default=0.8, gt=0, lt=1)
    escalate_priority: bool = True
    escalate_queue_id: int | None = None
    notify_supervisor: bool = True
    position: int = Field(default=0, ge=0)


class SlaPolicyRead(SlaPolicyWrite):
    model_config = ConfigDict(from_attributes=True)
    id: int
    is_active: bool


SkillMatrix.model_rebuild()
CalendarRead.model_rebuild()
