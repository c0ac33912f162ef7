"""SMS through a Twilio-compatible provider.

In: Twilio POSTs form-encoded webhooks, signed with X-Twilio-Signature (see ``signature``), to
``<base_url>/hooks/<public id>``: incoming messages (SMS, MMS with ``MediaUrlN``, WhatsApp
through Twilio) and the status callbacks of the messages we sent. Media is fetched with HTTP basic
auth (account SID, auth token).
Out: ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (form-encoded, basic auth) with a
``StatusCallback`` to the same hook URL.

WhatsApp through Twilio: the sender is ``whatsapp:+<number>``; the customer gets the identity
``whatsapp`` (the same one the Cloud API channel gives, so one person is one customer whichever
provider carries their WhatsApp) plus ``phone`` (so SMS and calls find them too). A channel whose
``from_number`` is ``whatsapp:+...`` is a WhatsApp sender and replies as WhatsApp; any other is
an SMS sender. Twilio senders are configured one webhook each, so this matches how they arrive.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

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
    StatusUpdate,
    WebhookRejected,
    WebhookRequest,
    ignore_update,
)
from sportello.channels.httputil import TIMEOUT, download, is_temporary_status
from sportello.channels.registry import register
from sportello.channels.sms.signature import signature_valid
from sportello.config import get_settings
from sportello.core.errors import InvalidInput

KIND = "sms"
DEFAULT_API_BASE = "https://api.twilio.com"
WHATSAPP_PREFIX = "whatsapp:"
MAX_BODY = 1600  # Twilio refuses longer bodies (error 21617)
MAX_MEDIA = 10
WINDOW_CLOSED = "the 24-hour window has closed: only approved templates can be sent"

# Twilio status -> DeliveryState value; queued/accepted/sending add nothing to "queued".
STATUS_STATES = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
}
INBOUND_STATUSES = ("received", "receiving")
# Delivery error codes the console should spell out (Twilio's error dictionary).
ERROR_TEXT = {
    "30001": "queue overflow",
    "30002": "account suspended",
    "30003": "unreachable destination handset",
    "30004": "message blocked by the recipient",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
    "30007": "filtered by the carrier as spam",
    "30008": "unknown error",
    "21211": "invalid 'To' phone number",
    "21610": "the recipient has unsubscribed (replied STOP)",
    "21614": "the 'To' number is not a mobile number",
    "63016": WINDOW_CLOSED,
}
TEMPORARY_CODES = frozenset({20429, 20500, 20503, 30001})


def _fields(body: bytes) -> list[tuple[str, str]]:
    return parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)


def _phone(address: str) -> tuple[str, bool]:
    """``whatsapp:+39...`` -> (``+39...``, True); ``+39...`` -> (``+39...``, False)."""
    if address.lower().startswith(WHATSAPP_PREFIX):
        return address[len(WHATSAPP_PREFIX) :].strip(), True
    return address.strip(), False


def describe_error(code: str, message: str = "") -> str:
    text = ERROR_TEXT.get(code) or message or "delivery failed"
    return f"{code} {text}".strip() if code else text


class SmsAdapter:
    kind: ClassVar[str] = "sms"
    label: ClassVar[str] = "SMS"
    # What the admin's form sends to configure(); the auth token is write-only there.
    form_fields: ClassVar[tuple[str, ...]] = (
        "account_sid",
        "auth_token",
        "from_number",
        "messaging_service_sid",
        "webhook_url",
        "api_base",
    )
    secret_fields: ClassVar[tuple[str, ...]] = ("auth_token",)
    capabilities: ClassVar[Capabilities] = Capabilities(replies=True, bot=True)

    def reply_problem(self, channel: ChannelConfig, target: ReplyTarget) -> str | None:
        if target.recipient.get("phone") or target.recipient.get("whatsapp"):
            return None
        return "this customer has no phone number"

    def configure(self, data: Mapping[str, str]) -> ChannelSetup:
        account_sid = data.get("account_sid", "").strip()
        if not account_sid:
            raise InvalidInput("give the account SID", field="account_sid")
        auth_token = data.get("auth_token", "").strip()
        if not auth_token:
            raise InvalidInput("give the auth token", field="auth_token")
        from_number = data.get("from_number", "").strip()
        service_sid = data.get("messaging_service_sid", "").strip()
        if not from_number and not service_sid:
            raise InvalidInput("give the number to send from", field="from_number")
        api_base = data.get("api_base", "").strip().rstrip("/") or DEFAULT_API_BASE
        webhook_url = data.get("webhook_url", "").strip()
        for name, url in (("api_base", api_base), ("webhook_url", webhook_url)):
            if url and not url.startswith(("http://", "https://")):
                raise InvalidInput("give an http(s) URL", field=name)
        return ChannelSetup(
            settings={
                "account_sid": account_sid,
                "from_number": from_number,
                "messaging_service_sid": service_sid,
                "api_base": api_base,
                # The URL configured at the provider, when a proxy rewrites ours.
                "webhook_url": webhook_url,
            },
            secrets={"auth_token": auth_token},
        )

    # Inbound ---------------------------------------------------------------------------------

    def hook_url(self, channel: ChannelConfig) -> str:
        """Our public URL for this channel: the webhook and the status callback."""
        return f"{get_settings().base_url.rstrip('/')}/hooks/{channel.public_id}"

    def signed_url_candidates(self, channel: ChannelConfig, request: WebhookRequest) -> list[str]:
        """The URLs Twilio may have signed: the one configured at the provider, our public URL
        (from settings.base_url, right behind a proxy), and the URL as this server saw it; each
        with the query string of the request."""
        query = urlsplit(request.url).query
        found: list[str] = []
        for base in (str(channel.settings.get("webhook_url") or ""), self.hook_url(channel)):
            if base:
                found.append(f"{base}?{query}" if query and "?" not in base else base)
        found.append(request.url)
        return list(dict.fromkeys(found))

    def verify(self, channel: ChannelConfig, request: WebhookRequest) -> None:
        token = channel.secrets.get("auth_token", "")
        signature = request.headers.get("x-twilio-signature", "")
        is_json = request.headers.get("content-type", "").startswith("application/json")
        params = [] if is_json else _fields(request.body)
        for url in self.signed_url_candidates(channel, request):
            if signature_valid(
                token, url, signature, params=params, body=request.body if is_json else None
            ):
                return
        raise WebhookRejected("bad X-Twilio-Signature")

    def webhook_ack(self) -> tuple[str, str]:
        """An empty TwiML response: received, no automatic reply."""
        return "text/xml", '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

    def parse(self, channel: ChannelConfig, request: WebhookRequest) -> Parsed:
        fields = dict(_fields(request.body))
        return Parsed(self._messages(fields), self._statuses(fields))

    @staticmethod
    def _statuses(fields: Mapping[str, str]) -> list[StatusUpdate]:
        status = fields.get("MessageStatus", "")
        sid = fields.get("MessageSid") or fields.get("SmsSid") or ""
        if not status or status in INBOUND_STATUSES or not sid:
            return []
        state = STATUS_STATES.get(status)
        if state is None:
            return []  # queued, accepted, sending, scheduled: nothing beyond "queued"
        error = None
        if state == "failed":
            error = describe_error(fields.get("ErrorCode", ""), fields.get("ErrorMessage", ""))
        return [StatusUpdate(sid, state, error)]

    @staticmethod
    def _messages(fields: Mapping[str, str]) -> list[InboundMessage]:
        status = fields.get("MessageStatus", "")
        if status and status not in INBOUND_STATUSES:
            return []  # a status callback: _statuses reads it
        sid = fields.get("MessageSid") or fields.get("SmsMessageSid") or fields.get("SmsSid")
        if not sid:
            ignore_update(KIND, "voice" if fields.get("CallSid") else "unknown")
            return []
        number, whatsapp = _phone(fields.get("From", ""))
        if not number:
            ignore_update(KIND, "message without a sender")
            return []
        meta: dict[str, Any] = {"to": fields.get("To", "")}
        if whatsapp:
            meta["via"] = "whatsapp"
        for key in ("FromCountry", "FromCity", "MessageType"):
            if fields.get(key):
                meta[key] = fields[key]
        text = fields.get("Body", "")
        attachments: list[InboundAttachment] = []
        count = int(fields["NumMedia"]) if fields.get("NumMedia", "").isdigit() else 0
        pending: list[PendingMedia] = []
        for i in range(min(count, MAX_MEDIA)):
            url = fields.get(f"MediaUrl{i}", "")
            if not url:
                continue
            content_type = fields.get(f"MediaContentType{i}", "")
            # Fetched by a job once the message is stored (see base.PendingMedia).
            pending.append(
                PendingMedia({"url": url, "content_type": content_type}, f"attachment {i + 1}")
            )
        if not text.strip() and not attachments and not pending:
            text = "(empty message)"
        return [
            InboundMessage(
                identity=Identity("whatsapp" if whatsapp else "phone", number),
                extra_identities=[Identity("phone", number)] if whatsapp else [],
                sender_name=fields.get("ProfileName", ""),
                text=text,
                provider_message_id=sid,
                attachments=attachments,
                pending_media=pending,
                meta=meta,
            )
        ]

    def fetch_media(self, channel: ChannelConfig, ref: Mapping[str, Any]) -> InboundAttachment:
        return self._fetch_media(channel, str(ref["url"]), str(ref.get("content_type") or ""))

    def _fetch_media(
        self, channel: ChannelConfig, url: str, content_type: str
    ) -> InboundAttachment:
        base = urlsplit(self._base(channel))
        parts = urlsplit(url)
        if parts.hostname == urlsplit(DEFAULT_API_BASE).hostname:
            # Twilio's media URLs name its API host: fetch them from the configured base.
            parts = parts._replace(scheme=base.scheme, netloc=base.netloc)
        # The account's credentials only go to the API host, never to a URL elsewhere.
        auth = self._auth(channel) if parts.netloc == base.netloc else None
        data, served = download(
            urlunsplit(parts), max_bytes=get_settings().max_upload_bytes, auth=auth
        )
        mime = content_type or served
        stem = parts.path.rstrip("/").rsplit("/", 1)[-1] or "media"
        ext = mimetypes.guess_extension(mime) or ""
        return InboundAttachment(f"{stem}{ext}", mime, data)

    # Outbound --------------------------------------------------------------------------------

    def send(self, channel: ChannelConfig, message: OutboundMessage) -> ExternalRef:
        if message.attachments:
            raise ChannelError(
                "files cannot be sent by SMS from Sportello: share a link instead", permanent=True
            )
        from_number = str(channel.settings.get("from_number") or "")
        as_whatsapp = from_number.lower().startswith(WHATSAPP_PREFIX)
        number = (
            message.recipient.get("whatsapp") or message.recipient.get("phone")
            if as_whatsapp
            else message.recipient.get("phone") or message.recipient.get("whatsapp")
        )
        if not number:
            raise ChannelError("this customer has no phone number", permanent=True)
        text = message.text.strip()
        if not text:
            raise ChannelError("nothing to send", permanent=True)
        form: dict[str, str] = {
            "To": f"{WHATSAPP_PREFIX}{number}" if as_whatsapp else number,
            "StatusCallback": self.hook_url(channel),
        }
        if channel.settings.get("messaging_service_sid"):
            form["MessagingServiceSid"] = str(channel.settings["messaging_service_sid"])
        else:
            form["From"] = from_number
        sids = [
            self._create_message(channel, {**form, "Body": text[i : i + MAX_BODY]})
            for i in range(0, len(text), MAX_BODY)
        ]
        return ExternalRef(sids[0], {"provider_message_ids": sids} if len(sids) > 1 else {})

    def _create_message(self, channel: ChannelConfig, form: dict[str, str]) -> str:
        sid = channel.settings.get("account_sid", "")
        url = f"{self._base(channel)}/2010-04-01/Accounts/{sid}/Messages.json"
        try:
            response = httpx.post(url, data=form, auth=self._auth(channel), timeout=TIMEOUT)
        except httpx.HTTPError as exc:
            raise ChannelError("the SMS provider could not be reached", detail=str(exc)) from exc
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if response.status_code >= 400:
            code = str(answer.get("code") or "")
            temporary = is_temporary_status(response.status_code) or (
                code.isdigit() and int(code) in TEMPORARY_CODES
            )
            reason = describe_error(code, str(answer.get("message") or ""))
            raise ChannelError(
                "the SMS provider refused the message",
                detail=f"HTTP {response.status_code}: {reason}",
                permanent=not temporary,
            )
        if not answer.get("sid"):
            raise ChannelError("the SMS provider accepted the message without a sid")
        return str(answer["sid"])

    def _auth(self, channel: ChannelConfig) -> tuple[str, str]:
        return str(channel.settings.get("account_sid", "")), channel.secrets.get("auth_token", "")

    def _base(self, channel: ChannelConfig) -> str:
        return str(channel.settings.get("api_base") or DEFAULT_API_BASE).rstrip("/")


adapter = register(SmsAdapter())
