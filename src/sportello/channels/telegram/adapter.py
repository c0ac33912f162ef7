"""Telegram Bot API adapter.

In: ``setWebhook`` with our URL and a ``secret_token``; Telegram sends it back on every update in
the ``X-Telegram-Bot-Api-Secret-Token`` header (we keep only its hash). Handled updates:
``message``, ``edited_message`` and ``callback_query`` from private chats; everything else
(inline queries, channel posts, group chatter, membership changes) is accepted and dropped.
Files are fetched with ``getFile`` and ``/file/bot<token>/<file_path>``.

Identity: the private chat's id (equal to the user's id), kind ``telegram``; name from the user's
first and last name. Dedupe key: ``<chat id>:<message id>`` (Telegram's retries and our own
replies share that shape, so replies thread); an edit adds ``:edit:<edit_date>``, a button press is
``cb:<callback query id>``. A button press is answered (``answerCallbackQuery``) while the
webhook is handled, so the button stops spinning on the user's screen; a failed answer is logged
and does not lose the message.

Edits are stored as new messages (``meta.edited``, pointing at the original) rather than
rewriting the original: the timeline is append-only, agents may already have read or answered
the first version, and each distinct edit still dedupes on its own key.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx

from sportello.channels.base import (
    Capabilities,
    ChannelConfig,
    ChannelError,
    ChannelSetup,
    ExternalRef,
    Identity,
    InboundAttachment,
    InboundMessage,
    OutboundMessage,
    Parsed,
    PendingMedia,
    ReplyTarget,
    WebhookRejected,
    WebhookRequest,
    ignore_update,
)
from sportello.channels.httputil import TIMEOUT, download, is_temporary_status
from sportello.channels.registry import register
from sportello.config import get_settings
from sportello.core.errors import InvalidInput
from sportello.core.security import new_token

log = logging.getLogger(__name__)

KIND = "telegram"
DEFAULT_API_BASE = "https://api.telegram.org"
SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 (a header name)
MAX_TEXT = 4096
MAX_CAPTION = 1024
BOT_API_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile serves files up to 20 MB
HANDLED = ("message", "edited_message", "callback_query")
# Answering a button press is a courtesy made while the webhook waits: never for long.
CALLBACK_ANSWER_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
# File-carrying message fields: (field, default file name stem).
FILE_FIELDS = (
    ("document", "document"),
    ("audio", "audio"),
    ("voice", "voice"),
    ("video", "video"),
    ("video_note", "video-note"),
    ("animation", "animation"),
    ("sticker", "sticker"),
)


def _name(user: Mapping[str, Any]) -> str:
    full = " ".join(str(user.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
    return full or str(user.get("username") or user.get("title") or "")


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


class TelegramAdapter:
    kind: ClassVar[str] = "telegram"
    label: ClassVar[str] = "Telegram"
    # An inline keyboard under the message; a tap is a callback_query (OffersChoices).
    max_choices: ClassVar[int] = 24
    # What the admin's form sends to configure(); the bot token is write-only there.
    form_fields: ClassVar[tuple[str, ...]] = ("bot_token", "api_base")
    secret_fields: ClassVar[tuple[str, ...]] = ("bot_token",)
    capabilities: ClassVar[Capabilities] = Capabilities(replies=True, bot=True)

    def reply_problem(self, channel: ChannelConfig, target: ReplyTarget) -> str | None:
        return None if target.recipient.get("telegram") else "this customer has no Telegram chat"

    def configure(self, data: Mapping[str, str]) -> ChannelSetup:
        bot_token = data.get("bot_token", "").strip()
        if ":" not in bot_token:
            raise InvalidInput("give the bot token from @BotFather", field="bot_token")
        api_base = data.get("api_base", "").strip().rstrip("/") or DEFAULT_API_BASE
        if not api_base.startswith(("http://", "https://")):
            raise InvalidInput("the API base must be an http(s) URL", field="api_base")
        # Telegram allows A-Z, a-z, 0-9, _ and - in a secret token: token_urlsafe fits.
        secret_token = new_token("tg_")
        return ChannelSetup(
            settings={"api_base": api_base, "bot_id": bot_token.split(":", 1)[0]},
            secrets={"bot_token": bot_token},
            token=secret_token,
            shown_once={"secret_token": secret_token},
        )

    # Inbound ---------------------------------------------------------------------------------

    def verify(self, channel: ChannelConfig, request: WebhookRequest) -> None:
        from sportello.channels.service import token_matches

        given = request.headers.get(SECRET_HEADER, "")
        if not given or not token_matches(channel, given):
            raise WebhookRejected("bad X-Telegram-Bot-Api-Secret-Token")

    def parse(self, channel: ChannelConfig, request: WebhookRequest) -> Parsed:
        try:
            update = json.loads(request.body)
        except ValueError:
            raise InvalidInput("the webhook body is not JSON", field="body") from None
        if not isinstance(update, dict):
            raise InvalidInput("the webhook body is not a JSON object", field="body")
        kind = next((k for k in update if k != "update_id"), "empty")
        if kind not in HANDLED or not isinstance(update[kind], dict):
            ignore_update(KIND, kind)
            return Parsed()
        if kind == "callback_query":
            found = self._callback(update[kind])
            if found is not None:
                self.answer_callback(channel, str(update[kind]["id"]))
        else:
            found = self._message(channel, update[kind], edited=kind == "edited_message")
        return Parsed([found] if found is not None else [])

    def _callback(self, query: dict[str, Any]) -> InboundMessage | None:
        user = query.get("from") or {}
        chat = (query.get("message") or {}).get("chat") or {}
        chat_id = chat.get("id", user.get("id"))
        if chat_id is None or not query.get("id"):
            ignore_update(KIND, "callback_query without a chat")
            return None
        if chat.get("type", "private") != "private":
            ignore_update(KIND, f"callback_query in a {chat.get('type')} chat")
            return None
        data = str(query.get("data") or query.get("game_short_name") or "")
        replied = (query.get("message") or {}).get("message_id")
        return InboundMessage(
            identity=Identity("telegram", str(chat_id)),
            sender_name=_name(user),
            text=data or "(button pressed)",
            provider_message_id=f"cb:{query['id']}",
            in_reply_to=[f"{chat_id}:{replied}"] if replied is not None else [],
            meta={
                "callback_query": {"id": str(query["id"]), "data": data},
                "choice": data,
                **_user_meta(user),
            },
        )

    def _message(
        self, channel: ChannelConfig, message: dict[str, Any], *, edited: bool
    ) -> InboundMessage | None:
        chat = message.get("chat") or {}
        chat_id = chat.get("id")
        message_id = message.get("message_id")
        if chat_id is None or message_id is None:
            ignore_update(KIND, "message without a chat")
            return None
        # Telegram's own examples omit "type"; a chat without one is a private chat.
        if chat.get("type", "private") != "private":
            ignore_update(KIND, f"message in a {chat.get('type')} chat")
            return None
        user = message.get("from") or chat
        key = f"{chat_id}:{message_id}"
        meta: dict[str, Any] = _user_meta(user)
        in_reply_to: list[str] = []
        reply = message.get("reply_to_message") or {}
        if reply.get("message_id") is not None:
            in_reply_to.append(f"{chat_id}:{reply['message_id']}")
        if edited:
            meta["edited"] = True
            meta["original_message_id"] = key
            in_reply_to.insert(0, key)
            key = f"{key}:edit:{message.get('edit_date') or message.get('date') or ''}"
        origin = message.get("forward_from") or message.get("forward_from_chat")
        if origin or message.get("forward_origin"):
            meta["forwarded"] = True
            if isinstance(origin, dict):
                meta["forwarded_from"] = _name(origin)

        text = str(message.get("text") or message.get("caption") or "")
        text = _extras_text(message, text)
        pending: list[PendingMedia] = []
        file_ref = _file_ref(message)
        if file_ref is not None:
            file_id, filename, mime = file_ref
            meta["file_id"] = file_id
            # Fetched by a job once the message is stored (see base.PendingMedia).
            pending.append(
                PendingMedia({"file_id": file_id, "filename": filename, "mime": mime}, filename)
            )
        if not text.strip() and not pending:
            ignore_update(KIND, "message:" + _service_kind(message))
            return None
        return InboundMessage(
            identity=Identity("telegram", str(chat_id)),
            sender_name=_name(user),
            text=text,
            provider_message_id=key,
            in_reply_to=in_reply_to,
            received_at=_time(message.get("edit_date") if edited else message.get("date")),
            pending_media=pending,
            meta=meta,
        )

    def fetch_media(self, channel: ChannelConfig, ref: Mapping[str, Any]) -> InboundAttachment:
        return self._fetch_file(
            channel,
            str(ref["file_id"]),
            str(ref.get("filename") or "file"),
            str(ref.get("mime") or ""),
        )

    def _fetch_file(
        self, channel: ChannelConfig, file_id: str, filename: str, mime: str
    ) -> InboundAttachment:
        limit = min(get_settings().max_upload_bytes, BOT_API_DOWNLOAD_LIMIT)
        result = self._call(channel, "getFile", params={"file_id": file_id})
        path = str((result or {}).get("file_path") or "")
        if not path:
            raise ChannelError("Telegram gave no file path", permanent=True)
        size = (result or {}).get("file_size")
        if isinstance(size, int) and size > limit:
            raise ChannelError(f"the file is larger than {limit} bytes", permanent=True)
        url = f"{self._base(channel)}/file/bot{channel.secrets.get('bot_token', '')}/{path}"
        data, served = download(url, max_bytes=limit, what="file")
        if "." not in filename:
            filename += Path(path).suffix or mimetypes.guess_extension(mime or served) or ""
        return InboundAttachment(filename, mime or served, data)

    def answer_callback(self, channel: ChannelConfig, query_id: str) -> bool:
        """Tell Telegram the button press arrived (``answerCallbackQuery``), so the button stops
        spinning. Telegram accepts one answer per press: a redelivered update's second answer is
        refused, which is fine. Failures are logged, never raised."""
        try:
            self._answer(
                channel,
                "answerCallbackQuery",
                json={"callback_query_id": query_id},
                timeout=CALLBACK_ANSWER_TIMEOUT,
            )
        except ChannelError as exc:
            log.info("telegram: answerCallbackQuery %s failed: %s", query_id, exc.message)
            return False
        return True

    def set_webhook(self, channel: ChannelConfig, *, url: str, secret_token: str) -> str:
        """Point the bot at our hook (``setWebhook``) with ``secret_token``; only the update
        kinds we handle are asked for. Returns Telegram's description ("Webhook was set")."""
        answer = self._answer(
            channel,
            "setWebhook",
            json={
                "url": url,
                "secret_token": secret_token,
                "allowed_updates": list(HANDLED),
                "drop_pending_updates": False,
            },
        )
        return str(answer.get("description") or "")

    # Outbound --------------------------------------------------------------------------------

    def send(self, channel: ChannelConfig, message: OutboundMessage) -> ExternalRef:
        chat_id = message.recipient.get("telegram", "")
        if not chat_id:
            raise ChannelError("this customer has no Telegram chat", permanent=True)
        text = message.text.strip()
        ids: list[str] = []
        caption = text if len(message.attachments) == 1 and len(text) <= MAX_CAPTION else ""
        keyboard = _keyboard(message.meta.get("choices") or [])
        if text and not caption:
            for i in range(0, len(text), MAX_TEXT):
                body: dict[str, Any] = {"chat_id": chat_id, "text": text[i : i + MAX_TEXT]}
                if keyboard and i + MAX_TEXT >= len(text):  # under the last part
                    body["reply_markup"] = keyboard
                result = self._call(channel, "sendMessage", json=body)
                ids.append(f"{chat_id}:{result['message_id']}")
        for attachment in message.attachments:
            try:
                data = Path(attachment.path).read_bytes()
            except OSError as exc:
                raise ChannelError(f"the attachment {attachment.filename} is missing") from exc
            form = {"chat_id": chat_id, **({"caption": caption} if caption else {})}
            result = self._call(
                channel,
                "sendDocument",
                data=form,
                files={"document": (attachment.filename, data, attachment.content_type)},
            )
            ids.append(f"{chat_id}:{result['message_id']}")
        if not ids:
            raise ChannelError("nothing to send", permanent=True)
        return ExternalRef(ids[0], {"provider_message_ids": ids} if len(ids) > 1 else {})

    def _call(self, channel: ChannelConfig, method: str, **kwargs: Any) -> dict[str, Any]:
        """Call a Bot API method; returns its ``result`` (see ``_answer`` for the errors)."""
        result = self._answer(channel, method, **kwargs).get("result")
        if isinstance(result, bool):  # setWebhook and friends answer ``true``
            return {"ok": result}
        if not isinstance(result, dict):
            raise ChannelError(f"Telegram answered {method} without a result")
        return result

    def _answer(
        self,
        channel: ChannelConfig,
        method: str,
        *,
        timeout: httpx.Timeout = TIMEOUT,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Call a Bot API method; returns Telegram's whole answer. Errors: 429 (with
        retry_after) and 5xx are temporary; 400 (bad request), 401 (bad token), 403 (bot
        blocked) permanent."""
        url = f"{self._base(channel)}/bot{channel.secrets.get('bot_token', '')}/{method}"
        try:
            response = httpx.post(url, timeout=timeout, **kwargs)
        except httpx.HTTPError as exc:
            raise ChannelError(
                "Telegram could not be reached", permanent=False, detail=str(exc)
            ) from exc
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if response.status_code >= 400 or not answer.get("ok"):
            code = int(answer.get("error_code") or response.status_code)
            description = str(answer.get("description") or f"HTTP {response.status_code}")
            retry_after = (answer.get("parameters") or {}).get("retry_after")
            if retry_after is not None:
                description += f" (retry after {retry_after} s)"
            if code == 403:
                description += ": the customer blocked the bot or never started it"
            temporary = is_temporary_status(code) or is_temporary_status(response.status_code)
            raise ChannelError(
                "Telegram refused the request",
                permanent=not temporary,
                detail=f"{code}: {description}",
            )
        return answer

    def _base(self, channel: ChannelConfig) -> str:
        return str(channel.settings.get("api_base") or DEFAULT_API_BASE).rstrip("/")


KEYBOARD_ROW = 6


def _keyboard(choices: list[Any]) -> dict[str, Any] | None:
    """An inline keyboard of ``choices`` ({"id", "title"}), six buttons a row; callback data
    is at most 64 bytes."""
    buttons = [
        {"text": str(c["title"]), "callback_data": str(c["id"])[:64]}
        for c in choices[: TelegramAdapter.max_choices]
    ]
    if not buttons:
        return None
    rows = [buttons[i : i + KEYBOARD_ROW] for i in range(0, len(buttons), KEYBOARD_ROW)]
    return {"inline_keyboard": rows}


def _user_meta(user: Mapping[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if user.get("username"):
        meta["telegram_username"] = str(user["username"])
    if user.get("id") is not None:
        meta["telegram_user_id"] = str(user["id"])
    return meta


def _file_ref(message: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(file id, file name, MIME type) of the message's file, if it carries one."""
    photos = message.get("photo")
    if isinstance(photos, list) and photos:
        fitting = [
            p
            for p in photos
            if isinstance(p, dict) and (p.get("file_size") or 0) <= BOT_API_DOWNLOAD_LIMIT
        ] or [p for p in photos if isinstance(p, dict)]
        biggest = max(fitting, key=lambda p: (p.get("width") or 0) * (p.get("height") or 0))
        return str(biggest["file_id"]), "photo.jpg", "image/jpeg"
    for field_name, stem in FILE_FIELDS:
        item = message.get(field_name)
        if isinstance(item, dict) and item.get("file_id"):
            mime = str(item.get("mime_type") or "")
            name = str(item.get("file_name") or "")
            if not name and item.get("title"):
                name = str(item["title"])
                ext = mimetypes.guess_extension(mime) if mime else None
                name += ext or ""
            return str(item["file_id"]), name or stem, mime
    return None


def _extras_text(message: Mapping[str, Any], text: str) -> str:
    """Locations, venues and contact cards have no text: describe them."""
    extra = ""
    location = message.get("location")
    venue = message.get("venue")
    contact = message.get("contact")
    if isinstance(venue, dict):
        loc = venue.get("location") or {}
        extra = f"📍 {venue.get('title', '')}, {venue.get('address', '')}".strip(", ")
        extra += f"\nhttps://www.openstreetmap.org/?mlat={loc.get('latitude')}&mlon={loc.get('longitude')}"
    elif isinstance(location, dict):
        extra = (
            "📍 Location\nhttps://www.openstreetmap.org/"
            f"?mlat={location.get('latitude')}&mlon={location.get('longitude')}"
        )
    elif isinstance(contact, dict):
        extra = f"👤 {_name(contact)} · {contact.get('phone_number', '')}".rstrip(" ·")
    return f"{text}\n{extra}".strip() if extra else text


def _service_kind(message: Mapping[str, Any]) -> str:
    known = {"chat", "from", "date", "message_id", "edit_date", "entities", "sender_chat"}
    return next((k for k in message if k not in known), "empty")


adapter = register(TelegramAdapter())
