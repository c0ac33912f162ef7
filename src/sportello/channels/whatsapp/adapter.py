"""WhatsApp Cloud API adapter.

In: Meta's webhook (GET hub.challenge handshake; POST signed with X-Hub-Signature-256, the
HMAC-SHA256 of the raw body with the app secret). Media is fetched through the Graph media API
(``GET /{media-id}`` -> a short-lived URL, then ``GET`` that URL with the same bearer token).
Out: ``POST /{phone-number-id}/messages``; media is uploaded first with ``POST
/{phone-number-id}/media``. Outside the 24-hour customer-service window only approved templates
may be sent (a message's ``meta["template"]``); anything else fails permanently with a reason the
console shows. The approved templates are synced from ``GET /{business-account-id}/
message_templates`` into the channel's settings (see ``templates``); the console offers them
when the window is closed.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

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
    OutboundAttachment,
    OutboundMessage,
    Parsed,
    PendingMedia,
    ReplyTarget,
    WebhookRejected,
    WebhookRequest,
)
from sportello.channels.httputil import TIMEOUT, download, is_temporary_status
from sportello.channels.registry import register
from sportello.channels.whatsapp import parsing, templates
from sportello.config import get_settings
from sportello.core.db import utcnow
from sportello.core.errors import InvalidInput
from sportello.core.security import new_token

DEFAULT_API_BASE = "https://graph.facebook.com/v21.0"
WINDOW = timedelta(hours=24)
WINDOW_CLOSED = "the 24-hour window has closed: only approved templates can be sent"
NO_NUMBER = "this customer has no WhatsApp number"
MAX_TEXT = 4096
MAX_CAPTION = 1024
TEMPLATE_FIELDS = "name,language,status,components"
MAX_TEMPLATE_PAGES = 50

# Graph error codes worth retrying: throttling and Meta's own transient failures.
TEMPORARY_CODES = frozenset(
    {1, 2, 4, 17, 32, 613, 80007, 130429, 131000, 131016, 131056, 133004, 133005}
)
# Codes whose meaning the console should spell out.
EXPLAINED_CODES = {
    131047: WINDOW_CLOSED,
    131026: "the message could not be delivered to this number (not on WhatsApp, or an old app)",
    131051: "WhatsApp does not support this message type",
    190: "the access token expired or is invalid: update the channel's settings",
}


def _media_kind(content_type: str) -> str:
    """The Cloud API message type for a file; anything unusual goes as a document."""
    if content_type in ("image/jpeg", "image/png"):
        return "image"
    if content_type in ("video/mp4", "video/3gpp"):
        return "video"
    if content_type in ("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"):
        return "audio"
    return "document"


def _filename(ref: parsing.MediaRef) -> str:
    if ref.filename:
        return ref.filename
    ext = mimetypes.guess_extension(ref.mime_type.split(";")[0].strip()) or ".bin"
    stem = "voice" if ref.voice else ref.kind
    return f"{stem}-{ref.media_id}{ext}"


class WhatsAppAdapter:
    kind: ClassVar[str] = "whatsapp"
    label: ClassVar[str] = "WhatsApp"
    # Interactive messages: up to 3 reply buttons, or a list of up to 10 rows (OffersChoices).
    max_choices: ClassVar[int] = 10
    # What the admin's form sends to configure(); the secrets are write-only there.
    form_fields: ClassVar[tuple[str, ...]] = (
        "phone_number_id",
        "business_account_id",
        "display_phone_number",
        "access_token",
        "app_secret",
        "verify_token",
        "api_base",
    )
    secret_fields: ClassVar[tuple[str, ...]] = ("access_token", "app_secret", "verify_token")
    capabilities: ClassVar[Capabilities] = Capabilities(replies=True, bot=True, templates=True)

    def reply_problem(self, channel: ChannelConfig, target: ReplyTarget) -> str | None:
        """A free-form reply needs the customer's number and an open 24-hour window (a
        template can still be sent when it has closed: the composer offers them)."""
        if not (target.recipient.get("whatsapp") or target.recipient.get("phone")):
            return NO_NUMBER
        if not window_open(target.last_inbound_at, target.now):
            if channel.settings.get("templates"):
                return WINDOW_CLOSED
            return "the 24-hour window has closed and this number has no approved templates"
        return None

    # Configuration -------------------------------------------------------------------------

    def configure(self, data: Mapping[str, str]) -> ChannelSetup:
        phone_number_id = data.get("phone_number_id", "").strip()
        if not phone_number_id.isdigit():
            raise InvalidInput("give the phone number ID from Meta's app", field="phone_number_id")
        access_token = data.get("access_token", "").strip()
        if not access_token:
            raise InvalidInput("give a permanent access token", field="access_token")
        app_secret = data.get("app_secret", "").strip()
        if not app_secret:
            raise InvalidInput("give the app secret (to check webhooks)", field="app_secret")
        api_base = data.get("api_base", "").strip().rstrip("/") or DEFAULT_API_BASE
        if not api_base.startswith(("http://", "https://")):
            raise InvalidInput("the API base must be an http(s) URL", field="api_base")
        business_account_id = data.get("business_account_id", "").strip()
        if business_account_id and not business_account_id.isdigit():
            raise InvalidInput(
                "the WhatsApp Business Account ID is a number", field="business_account_id"
            )
        verify_token = data.get("verify_token", "").strip() or new_token("wav_")
        return ChannelSetup(
            settings={
                "phone_number_id": phone_number_id,
                "business_account_id": business_account_id,
                "display_phone_number": data.get("display_phone_number", "").strip(),
                "api_base": api_base,
            },
            secrets={
                "access_token": access_token,
                "app_secret": app_secret,
                "verify_token": verify_token,
            },
            shown_once={"verify_token": verify_token},
        )

    # Inbound ---------------------------------------------------------------------------------

    def handshake(self, channel: ChannelConfig, request: WebhookRequest) -> str | None:
        """Meta's subscription check: echo hub.challenge when hub.verify_token is ours."""
        expected = channel.secrets.get("verify_token", "")
        given = request.query.get("hub.verify_token", "")
        if (
            request.query.get("hub.mode") != "subscribe"
            or not expected
            or not hmac.compare_digest(given.encode(), expected.encode())
        ):
            return None
        return request.query.get("hub.challenge", "")

    def verify(self, channel: ChannelConfig, request: WebhookRequest) -> None:
        if not signature_valid(
            channel.secrets.get("app_secret", ""),
            request.body,
            request.headers.get("x-hub-signature-256", ""),
        ):
            raise WebhookRejected("bad X-Hub-Signature-256")

    def parse(self, channel: ChannelConfig, request: WebhookRequest) -> Parsed:
        data = parsing.load_body(request.body)
        number_id = str(channel.settings.get("phone_number_id", ""))
        return Parsed(
            [self._inbound(channel, p) for p in parsing.parse_messages(data, number_id)],
            parsing.parse_statuses(data, number_id),
        )

    def _inbound(self, channel: ChannelConfig, parsed: parsing.ParsedMessage) -> InboundMessage:
        number = f"+{parsed.wa_id}"
        message = InboundMessage(
            identity=Identity("whatsapp", number),
            # The WhatsApp id is the customer's phone number: SMS and calls find them too.
            extra_identities=[Identity("phone", number)],
            sender_name=parsed.name,
            text=parsed.text,
            provider_message_id=parsed.message_id,
            in_reply_to=parsed.in_reply_to,
            received_at=parsed.timestamp,
            meta=parsed.meta,
            automated=parsed.automated,
        )
        if parsed.media is not None:
            # Fetched by a job once the message is stored (see base.PendingMedia).
            media = parsed.media
            message.meta["media_id"] = media.media_id
            message.pending_media.append(
                PendingMedia(
                    {
                        "media_id": media.media_id,
                        "kind": media.kind,
                        "mime_type": media.mime_type,
                        "filename": media.filename,
                        "voice": media.voice,
                    },
                    label=media.kind,
                )
            )
        return message

    def fetch_media(self, channel: ChannelConfig, ref: Mapping[str, Any]) -> InboundAttachment:
        return self._fetch_media(
            channel,
            parsing.MediaRef(
                media_id=str(ref["media_id"]),
                kind=str(ref.get("kind") or "document"),
                mime_type=str(ref.get("mime_type") or ""),
                filename=ref.get("filename") or None,
                voice=bool(ref.get("voice")),
            ),
        )

    def _fetch_media(self, channel: ChannelConfig, ref: parsing.MediaRef) -> InboundAttachment:
        max_bytes = get_settings().max_upload_bytes
        response = self._request(
            channel,
            "GET",
            f"{self._base(channel)}/{ref.media_id}",
            unreachable="the media API could not be reached",
        )
        try:
            info = response.json()
            url = str(info["url"])
        except (ValueError, KeyError, TypeError):
            raise ChannelError("the media API answered without a URL", permanent=True) from None
        size = info.get("file_size")
        if isinstance(size, int) and size > max_bytes:
            raise ChannelError(f"the file is larger than {max_bytes} bytes", permanent=True)
        data, content_type = download(
            url, max_bytes=max_bytes, headers=_authorization(channel), what=ref.kind
        )
        mime = str(info.get("mime_type") or ref.mime_type or content_type)
        return InboundAttachment(_filename(ref), mime.split(";")[0].strip(), data)

    # Templates -------------------------------------------------------------------------------

    def fetch_templates(self, channel: ChannelConfig) -> templates.Parsed:
        """The business account's templates from the Graph API, following ``paging.next``; the
        approved ones the console can send, and the names of the others it cannot."""
        account = str(channel.settings.get("business_account_id") or "")
        if not account.isdigit():
            raise ChannelError(
                "give the WhatsApp Business Account ID first: templates belong to it",
                permanent=True,
            )
        base = self._base(channel)
        url: str | None = f"{base}/{account}/message_templates"
        params: dict[str, str] | None = {"fields": TEMPLATE_FIELDS, "limit": "100"}
        items: list[Any] = []
        for _page in range(MAX_TEMPLATE_PAGES):
            if url is None:
                break
            if urlsplit(url)[:2] != urlsplit(base)[:2]:
                # The access token goes to the Graph API's host only.
                raise ChannelError("the template list points to another host", permanent=True)
            answer = self._get_json(channel, url, params)
            data = answer.get("data")
            if not isinstance(data, list):
                raise ChannelError("WhatsApp answered the template list without data")
            items.extend(data)
            following = (answer.get("paging") or {}).get("next")
            url, params = (str(following), None) if following else (None, None)
        return templates.parse(items)

    def _get_json(
        self, channel: ChannelConfig, url: str, params: Mapping[str, str] | None
    ) -> dict[str, Any]:
        response = self._request(channel, "GET", url, params=params)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ChannelError("WhatsApp answered with something other than JSON")
        return answer

    # What the console offers: free text inside the window, templates outside it.

    def free_text_allowed(self, last_inbound_at: datetime | None, now: datetime) -> bool:
        return window_open(last_inbound_at, now)

    def free_text_until(self, last_inbound_at: datetime | None) -> datetime | None:
        """When the window closes, counting from the customer's last message."""
        return None if last_inbound_at is None else last_inbound_at + WINDOW

    def reply_templates(self, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [
            {**t, "key": templates.key_of(t)}
            for t in settings.get("templates") or []
            if isinstance(t, dict)
        ]

    def template_reply(
        self,
        settings: Mapping[str, Any],
        *,
        key: str,
        values: Sequence[str],
        header: Sequence[str] = (),
        header_media: str = "",
        buttons: Sequence[str] = (),
    ) -> tuple[str, dict[str, Any]]:
        """(the text the timeline shows, the message's meta for send()) for an approved
        template with what it needs: body parameters (``values``), the text header's parameter
        (``header``), the media header's link or media id (``header_media``) and the endings of
        the URL buttons' links (``buttons``); InvalidInput for an unknown template or a missing
        or bad value."""
        template = templates.find(settings, key)
        if template is None:
            raise InvalidInput("choose one of the channel's approved templates", field="template")
        filled = templates.fill(
            template, values, header=header, header_media=header_media, buttons=buttons
        )
        return templates.render(template, filled), {
            "template": templates.send_object(template, filled)
        }

    # Outbound --------------------------------------------------------------------------------

    def send(self, channel: ChannelConfig, message: OutboundMessage) -> ExternalRef:
        to = (message.recipient.get("whatsapp") or message.recipient.get("phone") or "").lstrip("+")
        if not to.isdigit():
            raise ChannelError(NO_NUMBER, permanent=True)
        template = message.meta.get("template")
        if template is None and not window_open(message.last_inbound_at, utcnow()):
            raise ChannelError(WINDOW_CLOSED, permanent=True)

        payloads: list[dict[str, Any]] = []
        if template is not None:
            payloads.append({"type": "template", "template": template})
        else:
            # Upload first: an upload failure must not leave half a reply at the customer.
            media = [(a, self._upload(channel, a)) for a in message.attachments]
            text = message.text.strip()
            caption_fits = (
                len(media) == 1
                and _media_kind(media[0][0].content_type) != "audio"
                and len(text) <= MAX_CAPTION
            )
            choices = list(message.meta.get("choices") or [])[: self.max_choices]
            if text and choices and not media:
                chunks = _chunks(text, MAX_INTERACTIVE_BODY)
                payloads.extend(
                    {"type": "text", "text": {"preview_url": False, "body": chunk}}
                    for chunk in chunks[:-1]
                )
                payloads.append(
                    _interactive(chunks[-1], choices, str(message.meta.get("choices_label") or "…"))
                )
            elif text and not caption_fits:
                payloads.extend(
                    {"type": "text", "text": {"preview_url": False, "body": chunk}}
                    for chunk in _chunks(text, MAX_TEXT)
                )
            for attachment, media_id in media:
                kind = _media_kind(attachment.content_type)
                body: dict[str, Any] = {"id": media_id}
                if kind == "document":
                    body["filename"] = attachment.filename
                if caption_fits and text:
                    body["caption"] = text
                payloads.append({"type": kind, kind: body})
        if not payloads:
            raise ChannelError("nothing to send", permanent=True)

        ids = [self._post_message(channel, to, p) for p in payloads]
        return ExternalRef(ids[0], {"provider_message_ids": ids} if len(ids) > 1 else {})

    def _post_message(self, channel: ChannelConfig, to: str, payload: dict[str, Any]) -> str:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
        body.update(payload)
        response = self._request(
            channel,
            "POST",
            f"{self._base(channel)}/{channel.settings['phone_number_id']}/messages",
            json=body,
        )
        try:
            return str(response.json()["messages"][0]["id"])
        except (ValueError, KeyError, IndexError, TypeError):
            raise ChannelError("WhatsApp accepted the message without an id") from None

    def _upload(self, channel: ChannelConfig, attachment: OutboundAttachment) -> str:
        try:
            data = Path(attachment.path).read_bytes()
        except OSError as exc:
            raise ChannelError(f"the attachment {attachment.filename} is missing") from exc
        response = self._request(
            channel,
            "POST",
            f"{self._base(channel)}/{channel.settings['phone_number_id']}/media",
            data={"messaging_product": "whatsapp", "type": attachment.content_type},
            files={"file": (attachment.filename, data, attachment.content_type)},
        )
        try:
            return str(response.json()["id"])
        except (ValueError, KeyError, TypeError):
            raise ChannelError("the media upload answered without an id") from None

    def _request(
        self,
        channel: ChannelConfig,
        method: str,
        url: str,
        *,
        unreachable: str = "WhatsApp could not be reached",
        **kwargs: Any,
    ) -> httpx.Response:
        """One Graph API call with the channel's access token; a ChannelError when the API cannot
        be reached (temporary, ``unreachable`` says what) or answers with an error."""
        try:
            response = httpx.request(
                method, url, headers=_authorization(channel), timeout=TIMEOUT, **kwargs
            )
        except httpx.HTTPError as exc:
            raise ChannelError(unreachable, permanent=False, detail=str(exc)) from exc
        if response.status_code >= 400:
            raise _graph_error(response)
        return response

    def _base(self, channel: ChannelConfig) -> str:
        return str(channel.settings.get("api_base") or DEFAULT_API_BASE).rstrip("/")


def signature_valid(app_secret: str, body: bytes, header: str) -> bool:
    """X-Hub-Signature-256: ``sha256=`` + hex HMAC-SHA256 of the raw body with the app secret."""
    scheme, _, given = header.strip().partition("=")
    if scheme.lower() != "sha256" or not given or not app_secret:
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given.strip().lower())


def window_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Free-form messages may be sent for 24 hours after the customer's last message."""
    return last_inbound_at is not None and now - last_inbound_at < WINDOW


def _authorization(channel: ChannelConfig) -> dict[str, str]:
    return {"Authorization": f"Bearer {channel.secrets.get('access_token', '')}"}


MAX_INTERACTIVE_BODY = 1024
MAX_BUTTONS = 3


def _interactive(body: str, choices: Sequence[Mapping[str, Any]], label: str) -> dict[str, Any]:
    """Reply buttons (up to 3, titles of 20 characters) or a list behind a button labelled
    ``label`` (rows of 24 characters)."""
    action: dict[str, Any]
    if len(choices) <= MAX_BUTTONS:
        kind = "button"
        action = {
            "buttons": [
                {"type": "reply", "reply": {"id": str(c["id"]), "title": str(c["title"])[:20]}}
                for c in choices
            ]
        }
    else:
        kind = "list"
        rows = [{"id": str(c["id"]), "title": str(c["title"])[:24]} for c in choices]
        action = {"button": label[:20], "sections": [{"rows": rows}]}
    return {
        "type": "interactive",
        "interactive": {"type": kind, "body": {"text": body}, "action": action},
    }


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _graph_error(response: httpx.Response) -> ChannelError:
    """A Graph API error answer -> ChannelError, temporary or permanent by its code."""
    code: int | None = None
    text = ""
    try:
        error = response.json().get("error") or {}
        code = int(error["code"]) if error.get("code") is not None else None
        details = (error.get("error_data") or {}).get("details") or ""
        text = str(error.get("message") or "")
        if details and details not in text:
            text = f"{text}: {details}" if text else str(details)
    except (ValueError, AttributeError, TypeError):
        pass
    temporary = is_temporary_status(response.status_code) or code in TEMPORARY_CODES
    reason = EXPLAINED_CODES.get(code or 0) or text or f"HTTP {response.status_code}"
    prefix = (
        f"WhatsApp error {code}" if code is not None else f"WhatsApp HTTP {response.status_code}"
    )
    # Our own words when we know the code (they are in the catalogues), else a plain refusal;
    # WhatsApp's code and text follow as the detail.
    return ChannelError(
        EXPLAINED_CODES.get(code or 0) or "WhatsApp refused the request",
        permanent=not temporary,
        detail=f"{prefix}: {text or reason}",
    )


adapter = register(WhatsAppAdapter())
