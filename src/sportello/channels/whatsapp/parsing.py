"""WhatsApp Cloud API webhook bodies -> plain data, with no network and no database.

A body is ``{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages",
"value": {...}}]}]}``; a ``messages`` value carries ``messages`` (from customers) and ``statuses``
(about the messages we sent). Media items come out as ``MediaRef`` for the adapter to fetch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sportello.channels.base import StatusUpdate, ignore_update
from sportello.core.errors import InvalidInput

KIND = "whatsapp"
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")

# Cloud API status -> DeliveryState value. "played" (a voice message was listened to) is a read.
STATUS_STATES = {"sent": "sent", "delivered": "delivered", "read": "read", "played": "read"}


@dataclass(frozen=True)
class MediaRef:
    media_id: str
    kind: str  # image, video, audio, document, sticker
    mime_type: str
    filename: str | None
    voice: bool = False


@dataclass
class ParsedMessage:
    """One customer message, before its media is fetched."""

    wa_id: str
    name: str
    message_id: str
    timestamp: datetime | None
    text: str
    media: MediaRef | None = None
    in_reply_to: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    automated: bool = False


def load_body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidInput("the webhook body is not JSON", field="body") from None
    if not isinstance(data, dict):
        raise InvalidInput("the webhook body is not a JSON object", field="body")
    return data


def _changes(data: dict[str, Any], phone_number_id: str) -> Iterator[dict[str, Any]]:
    """The ``value`` of every ``messages`` change for our phone number; the rest is ignored."""
    if data.get("object") != "whatsapp_business_account":
        ignore_update(KIND, f"object:{data.get('object')}")
        return
    for entry in data.get("entry") or []:
        for change in (entry or {}).get("changes") or []:
            field_name = (change or {}).get("field")
            value = (change or {}).get("value")
            if field_name != "messages" or not isinstance(value, dict):
                ignore_update(KIND, f"field:{field_name}")
                continue
            metadata = value.get("metadata") or {}
            number = str(metadata.get("phone_number_id") or "")
            if phone_number_id and number and number != phone_number_id:
                # One Meta app posts every number's webhooks to one URL: not this channel's.
                ignore_update(KIND, f"phone_number_id:{number}")
                continue
            yield value


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def parse_statuses(data: dict[str, Any], phone_number_id: str) -> list[StatusUpdate]:
    found = []
    for value in _changes(data, phone_number_id):
        for status in value.get("statuses") or []:
            message_id = str(status.get("id") or "")
            raw = str(status.get("status") or "")
            if not message_id:
                continue
            if raw == "failed":
                found.append(
                    StatusUpdate(
                        message_id,
                        "failed",
                        describe_errors(status.get("errors")),
                        _time(status.get("timestamp")),
                    )
                )
            elif raw in STATUS_STATES:
                found.append(
                    StatusUpdate(
                        message_id, STATUS_STATES[raw], None, _time(status.get("timestamp"))
                    )
                )
            else:
                ignore_update(KIND, f"status:{raw}")
    return found


def describe_errors(errors: Any) -> str:
    """``[{"code": 131026, "title": "...", "error_data": {"details": "..."}}]`` -> one line."""
    if not isinstance(errors, list) or not errors:
        return "WhatsApp reported a failure without details"
    parts = []
    for error in errors:
        if not isinstance(error, dict):
            continue
        text = f"{error.get('code', '?')} {error.get('title') or error.get('message') or ''}"
        details = (error.get("error_data") or {}).get("details")
        if details and details not in text:
            text += f": {details}"
        parts.append(text.strip())
    return "; ".join(parts) or "WhatsApp reported a failure without details"


def parse_messages(data: dict[str, Any], phone_number_id: str) -> list[ParsedMessage]:
    found = []
    for value in _changes(data, phone_number_id):
        names = {
            str(c.get("wa_id")): str((c.get("profile") or {}).get("name") or "")
            for c in value.get("contacts") or []
            if isinstance(c, dict)
        }
        for raw in value.get("messages") or []:
            if not isinstance(raw, dict):
                continue
            wa_id = str(raw.get("from") or "")
            message_id = str(raw.get("id") or "")
            if not wa_id.isdigit() or not message_id:
                ignore_update(KIND, "message without a sender number")
                continue
            parsed = _message(raw, wa_id=wa_id, name=names.get(wa_id, ""), message_id=message_id)
            if parsed is not None:
                found.append(parsed)
    return found


def _message(
    raw: dict[str, Any], *, wa_id: str, name: str, message_id: str
) -> ParsedMessage | None:
    msg_type = str(raw.get("type") or "")
    message = ParsedMessage(wa_id, name, message_id, _time(raw.get("timestamp")), "")
    context = raw.get("context") or {}
    if context.get("forwarded") or context.get("frequently_forwarded"):
        message.meta["forwarded"] = True
    if context.get("id"):
        message.in_reply_to.append(str(context["id"]))
    if raw.get("referral"):
        message.meta["referral"] = raw["referral"]

    if msg_type == "edit":
        # The customer edited an earlier message: stored as a new message pointing at it.
        edit = raw.get("edit") or {}
        inner = dict(edit.get("message") or {})
        inner.pop("context", None)
        original = str(edit.get("original_message_id") or "")
        result = _content(message, str(inner.get("type") or ""), inner)
        if result is not None:
            result.meta["edited"] = True
            if original:
                result.meta["original_message_id"] = original
                result.in_reply_to.insert(0, original)
        return result
    if msg_type == "revoke":
        ignore_update(KIND, "message:revoke")
        return None
    return _content(message, msg_type, raw)


def _content(message: ParsedMessage, msg_type: str, raw: dict[str, Any]) -> ParsedMessage | None:
    message.meta["type"] = msg_type
    body = raw.get(msg_type) if isinstance(raw.get(msg_type), dict) else {}
    assert isinstance(body, dict)
    if msg_type == "text":
        message.text = str(body.get("body") or "")
    elif msg_type in MEDIA_TYPES:
        if not body.get("id"):
            return _unsupported(message, msg_type, raw)
        message.media = MediaRef(
            media_id=str(body["id"]),
            kind=msg_type,
            mime_type=str(body.get("mime_type") or "application/octet-stream"),
            filename=str(body["filename"]) if body.get("filename") else None,
            voice=bool(body.get("voice")),
        )
        message.text = str(body.get("caption") or "")
    elif msg_type == "location":
        message.text = _location_text(body)
        message.meta["location"] = body
    elif msg_type == "contacts":
        cards = raw.get("contacts") or []
        message.text = _contacts_text(cards)
        message.meta["contacts"] = cards
    elif msg_type == "reaction":
        emoji = str(body.get("emoji") or "")
        target = str(body.get("message_id") or "")
        message.text = f"Reaction {emoji}" if emoji else "Reaction removed"
        message.meta["reaction"] = {"message_id": target, "emoji": emoji}
        if target:
            message.in_reply_to.insert(0, target)
    elif msg_type == "interactive":
        kind = str(body.get("type") or "")
        reply = body.get(kind) if isinstance(body.get(kind), dict) else None
        if reply is None:
            return _unsupported(message, msg_type, raw)
        if kind == "nfm_reply":  # a WhatsApp Flow was completed
            message.text = str(reply.get("body") or "Flow completed")
            message.meta["flow"] = {
                "name": reply.get("name"),
                "response_json": reply.get("response_json"),
            }
        elif kind == "call_permission_reply":
            message.text = f"Call permission: {reply.get('response', '?')}"
            message.meta["call_permission"] = reply
        else:  # button_reply, list_reply
            title = str(reply.get("title") or reply.get("id") or "")
            description = str(reply.get("description") or "")
            message.text = f"{title}\n{description}".strip()
            message.meta["interactive"] = {"type": kind, "id": reply.get("id"), "title": title}
            if reply.get("id"):
                message.meta["choice"] = str(reply["id"])
    elif msg_type == "button":  # a quick-reply button of a template
        message.text = str(body.get("text") or body.get("payload") or "")
        message.meta["button"] = {"payload": body.get("payload"), "text": body.get("text")}
    elif msg_type == "order":
        message.text = _order_text(body)
        message.meta["order"] = body
    elif msg_type == "system":
        message.text = str(body.get("body") or "WhatsApp system message")
        message.meta["system"] = body
        message.automated = True
    else:
        return _unsupported(message, msg_type, raw)
    if not message.text.strip() and message.media is None:
        return _unsupported(message, msg_type, raw)
    return message


def _unsupported(message: ParsedMessage, msg_type: str, raw: dict[str, Any]) -> ParsedMessage:
    """Something WhatsApp could not show us: keep a trace so the agent knows the customer
    wrote, and can ask them to send it another way."""
    shown = (raw.get("unsupported") or {}).get("type") or msg_type or "unknown"
    message.text = f"[The customer sent a WhatsApp message of a kind not shown here: {shown}]"
    message.media = None
    message.meta["unsupported"] = shown
    if raw.get("errors"):
        message.meta["errors"] = raw["errors"]
    return message


def _location_text(body: dict[str, Any]) -> str:
    lat, lon = body.get("latitude"), body.get("longitude")
    label = ", ".join(str(body[k]) for k in ("name", "address") if body.get(k))
    link = f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}" if lat is not None else ""
    return "\n".join(p for p in (f"📍 {label}" if label else "📍 Location", link) if p)


def _contacts_text(cards: Any) -> str:
    lines = []
    for card in cards if isinstance(cards, list) else []:
        name = (card.get("name") or {}).get("formatted_name") or "Contact"
        phones = ", ".join(str(p.get("phone")) for p in card.get("phones") or [] if p.get("phone"))
        emails = ", ".join(str(e.get("email")) for e in card.get("emails") or [] if e.get("email"))
        lines.append(f"👤 {name}" + "".join(f" · {x}" for x in (phones, emails) if x))
    return "\n".join(lines)


def _order_text(body: dict[str, Any]) -> str:
    lines = ["🛒 Order"]
    for item in body.get("product_items") or []:
        lines.append(
            f"{item.get('quantity', 1)} × {item.get('product_retailer_id', '?')}"
            f" ({item.get('item_price', '?')} {item.get('currency', '')})".rstrip()
        )
    if body.get("text"):
        lines.append(str(body["text"]))
    return "\n".join(lines)
