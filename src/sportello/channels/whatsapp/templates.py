"""WhatsApp message templates: what Meta's template list gives, what the console can send.

Outside the 24-hour window a business may only send a template Meta approved. The channel keeps
the approved ones in its settings (``templates``), synced from the Graph API's
``GET /{business-account-id}/message_templates``; an agent picks one and fills what it needs:

- body parameters (``{{1}}``, ``{{2}}``, ... or, for templates with named parameters,
  ``{{name}}``);
- a text header's parameter (one at most), or the file of an IMAGE, DOCUMENT or VIDEO header
  (an http(s) link, or the id of media uploaded to WhatsApp);
- the variable ending of a URL button (``https://shop.example/track/{{1}}``).

Quick-reply buttons are sent with their label as payload (what the webhook gives back when the
customer taps one); phone-number and static URL buttons need nothing.

Templates with parts the console cannot fill (a carousel, a limited-time offer, a location
header, a one-time-password, coupon-code, catalog or Flow button, ...) are left out of the
stored list and named in ``templates_skipped`` with the reason, for the admin.

The send request (``POST /{phone-number-id}/messages``, ``type`` ``template``) carries the
filled parts as Meta documents them::

    {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://..."}}]}
    {"type": "body", "parameters": [{"type": "text", "text": "Mario"}]}
    {"type": "button", "sub_type": "url", "index": "1",
     "parameters": [{"type": "text", "text": "ABC123"}]}
    {"type": "button", "sub_type": "quick_reply", "index": "0",
     "parameters": [{"type": "payload", "payload": "Yes"}]}
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from sportello.core.errors import InvalidInput

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
ENDS_WITH_PLACEHOLDER = re.compile(r"\{\{\s*[A-Za-z0-9_]+\s*\}\}\s*$")
# Header formats the console can fill, and the Cloud API parameter type of each media one.
MEDIA_HEADERS = {"IMAGE": "image", "DOCUMENT": "document", "VIDEO": "video"}
# Buttons the console can send: these need nothing or what the agent fills in.
SENDABLE_BUTTONS = frozenset({"QUICK_REPLY", "PHONE_NUMBER", "URL", "VOICE_CALL"})
# Why an approved template is not offered: a code a skipped entry keeps (the admin page words
# it), by the component or button type that causes it.
SKIP_COMPONENTS = {"CAROUSEL": "carousel", "LIMITED_TIME_OFFER": "limited_time_offer"}
SKIP_BUTTONS = {
    "OTP": "otp",
    "COPY_CODE": "copy_code",
    "CATALOG": "catalog",
    "MPM": "catalog",
    "SPM": "catalog",
    "FLOW": "flow",
}
MAX_PARAM = 1000
MAX_HEADER = 60  # Meta's limit for a text header, its parameter filled in
MAX_LINK = 2000
MAX_PAYLOAD = 256
# Meta refuses parameters with new lines, tabs or more than four spaces in a row (error 132018).
BAD_PARAM = re.compile(r"[\n\r\t]| {5,}")


@dataclass(frozen=True)
class Parsed:
    templates: list[dict[str, Any]]
    # {"name", "language", "reason"}: the approved templates the console cannot send, and why
    skipped: list[dict[str, str]]


def key_of(template: Mapping[str, Any]) -> str:
    """A template is one name in one language: ``name:language``."""
    return f"{template.get('name', '')}:{template.get('language', '')}"


def placeholders(text: str) -> list[str]:
    """The parameters a text needs, in the order they are sent: by number for positional
    parameters, in order of appearance for named ones."""
    found = list(dict.fromkeys(PLACEHOLDER.findall(text)))
    if found and all(p.isdigit() for p in found):
        return sorted(found, key=int)
    return found


class _Unsendable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _header(component: Mapping[str, Any]) -> tuple[str, str, list[str]]:
    """(format, text, parameters) of a HEADER component."""
    header_format = str(component.get("format") or "TEXT").upper()
    if header_format == "LOCATION":
        raise _Unsendable("location_header")
    if header_format in MEDIA_HEADERS:
        return header_format, "", []
    if header_format != "TEXT":
        raise _Unsendable("header")  # a GIF or product header: not something we can fill
    text = str(component.get("text") or "")
    params = placeholders(text)
    if len(params) > 1:
        raise _Unsendable("header")
    return "TEXT", text, params


def _buttons(component: Mapping[str, Any]) -> list[dict[str, Any]]:
    buttons: list[dict[str, Any]] = []
    for index, button in enumerate(component.get("buttons") or []):
        if not isinstance(button, Mapping):
            raise _Unsendable("button")
        kind = str(button.get("type") or "").upper()
        if kind in SKIP_BUTTONS:
            raise _Unsendable(SKIP_BUTTONS[kind])
        if kind not in SENDABLE_BUTTONS:
            raise _Unsendable("button")
        entry: dict[str, Any] = {
            "index": index,
            "type": kind,
            "text": str(button.get("text") or ""),
        }
        if kind == "URL":
            url = str(button.get("url") or "")
            params = placeholders(url)
            # Meta allows one variable, at the end of the link.
            if len(params) > 1 or (params and not ENDS_WITH_PLACEHOLDER.search(url)):
                raise _Unsendable("button")
            entry["url"] = url
            entry["params"] = params
        buttons.append(entry)
    return buttons


def _sendable(item: Mapping[str, Any]) -> dict[str, Any]:
    """One approved template -> what the channel stores; _Unsendable when the console cannot
    fill it."""
    header_format, header = "", ""
    header_params: list[str] = []
    body, footer = "", ""
    buttons: list[dict[str, Any]] = []
    for component in item.get("components") or []:
        if not isinstance(component, Mapping):
            continue
        kind = str(component.get("type") or "").upper()
        if kind == "BODY":
            body = str(component.get("text") or "")
        elif kind == "FOOTER":
            footer = str(component.get("text") or "")
        elif kind == "HEADER":
            header_format, header, header_params = _header(component)
        elif kind == "BUTTONS":
            buttons = _buttons(component)
        else:
            raise _Unsendable(SKIP_COMPONENTS.get(kind, "component"))
    return {
        "name": str(item["name"]),
        "language": str(item["language"]),
        "header_format": header_format,
        "header": header,
        "header_params": header_params,
        "body": body,
        "footer": footer,
        "params": placeholders(body),
        "buttons": buttons,
    }


def parse(items: Iterable[Any]) -> Parsed:
    """Meta's template list -> the approved templates the console can send, and the approved
    ones it cannot, with the reason."""
    templates: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for item in items:
        if not isinstance(item, Mapping) or str(item.get("status") or "").upper() != "APPROVED":
            continue
        name = str(item.get("name") or "")
        language = str(item.get("language") or "")
        if not name or not language:
            continue
        try:
            templates.append(_sendable(item))
        except _Unsendable as exc:
            skipped.append({"name": name, "language": language, "reason": exc.reason})
    templates.sort(key=lambda t: (t["name"], t["language"]))
    skipped.sort(key=lambda s: (s["name"], s["language"]))
    return Parsed(templates, skipped)


def find(settings: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    for template in settings.get("templates") or []:
        if isinstance(template, dict) and key_of(template) == key:
            return template
    return None


# --- what the agent fills in --------------------------------------------------------------------


def media_header(template: Mapping[str, Any]) -> str | None:
    """The Cloud API type of the template's media header (image, document, video), or None."""
    return MEDIA_HEADERS.get(str(template.get("header_format") or "").upper())


def url_buttons(template: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The URL buttons whose link ends with a variable, in the order their values are sent."""
    return [
        b
        for b in template.get("buttons") or []
        if isinstance(b, Mapping) and b.get("type") == "URL" and b.get("params")
    ]


def _check_text(value: str, *, field: str, limit: int = MAX_PARAM) -> None:
    if len(value) > limit:
        raise InvalidInput("a template parameter is too long", field=field)
    if BAD_PARAM.search(value):
        raise InvalidInput(
            "a template parameter cannot contain new lines, tabs or more than four spaces in a row",
            field=field,
        )


def check_params(template: Mapping[str, Any], values: Sequence[str]) -> list[str]:
    """The body parameters, trimmed; InvalidInput when one is missing or unsendable."""
    names = list(template.get("params") or [])
    cleaned = [v.strip() for v in values]
    if len(cleaned) != len(names) or not all(cleaned):
        raise InvalidInput("fill in every parameter of the template", field="params")
    for value in cleaned:
        _check_text(value, field="params")
    return cleaned


def check_header(template: Mapping[str, Any], values: Sequence[str]) -> list[str]:
    """The text header's parameter (none or one), trimmed."""
    names = list(template.get("header_params") or [])
    cleaned = [v.strip() for v in values]
    if len(cleaned) != len(names) or not all(cleaned):
        raise InvalidInput("fill in the header parameter of the template", field="header_params")
    for value in cleaned:
        _check_text(value, field="header_params")
    if names and len(_fill(str(template.get("header") or ""), names, cleaned)) > MAX_HEADER:
        raise InvalidInput(
            "the template's header is too long: WhatsApp allows 60 characters",
            field="header_params",
        )
    return cleaned


def check_media(template: Mapping[str, Any], value: str) -> str:
    """The media header's file: an http(s) link or a WhatsApp media id; "" when the template
    has no media header."""
    if media_header(template) is None:
        return ""
    value = value.strip()
    if not value:
        raise InvalidInput(
            "give the link of the template's header file (or its WhatsApp media ID)",
            field="header_media",
        )
    if value.isdigit():
        return value
    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or len(value) > MAX_LINK
        or any(c.isspace() for c in value)
    ):
        raise InvalidInput(
            "the header file must be an http(s) link or a WhatsApp media ID", field="header_media"
        )
    return value


def check_buttons(template: Mapping[str, Any], values: Sequence[str]) -> list[str]:
    """The endings of the URL buttons' links, trimmed, one a button with a variable."""
    buttons = url_buttons(template)
    cleaned = [v.strip() for v in values]
    if len(cleaned) != len(buttons) or not all(cleaned):
        raise InvalidInput("fill in the link ending of every button", field="button_params")
    for button, value in zip(buttons, cleaned, strict=True):
        if any(c.isspace() for c in value):
            raise InvalidInput(
                "a button's link ending cannot contain spaces", field="button_params"
            )
        if len(_fill(str(button.get("url") or ""), button["params"], [value])) > MAX_LINK:
            raise InvalidInput("a button's link is too long", field="button_params")
    return cleaned


@dataclass(frozen=True)
class Filled:
    """What the agent gave for one template, checked."""

    params: list[str]
    header_params: list[str]
    header_media: str
    button_params: list[str]


def fill(
    template: Mapping[str, Any],
    values: Sequence[str],
    *,
    header: Sequence[str] = (),
    header_media: str = "",
    buttons: Sequence[str] = (),
) -> Filled:
    """Every value a template needs, checked; InvalidInput for the first that is wrong."""
    return Filled(
        params=check_params(template, values),
        header_params=check_header(template, header),
        header_media=check_media(template, header_media),
        button_params=check_buttons(template, buttons),
    )


# --- what goes out ------------------------------------------------------------------------------


def _fill(text: str, names: Sequence[str], values: Sequence[str]) -> str:
    by_name = dict(zip(names, values, strict=True))
    return PLACEHOLDER.sub(lambda m: by_name.get(m.group(1), m.group(0)), text)


def _as_filled(values: Sequence[str] | Filled) -> Filled:
    return values if isinstance(values, Filled) else Filled(list(values), [], "", [])


def render(template: Mapping[str, Any], values: Sequence[str] | Filled) -> str:
    """The text the customer reads (for the timeline): header, body and footer with their
    parameters filled in, the header's file link and the buttons."""
    filled = _as_filled(values)
    body = _fill(str(template["body"]), template.get("params") or [], filled.params)
    if media_header(template) is not None:
        header = filled.header_media
    else:
        header = _fill(
            str(template.get("header") or ""),
            template.get("header_params") or [],
            filled.header_params,
        )
    parts = [header, body, str(template.get("footer") or "")]
    dynamic = iter(filled.button_params)
    labels = []
    for button in template.get("buttons") or []:
        label = f"[{button.get('text') or ''}]"
        if button.get("type") == "URL":
            url = str(button.get("url") or "")
            if button.get("params"):
                url = _fill(url, button["params"], [next(dynamic, "")])
            label = f"{label} {url}"
        labels.append(label)
    parts.append("\n".join(labels))
    return "\n\n".join(p for p in parts if p)


def _text_parameters(names: Sequence[str], values: Sequence[str]) -> list[dict[str, str]]:
    named = not all(n.isdigit() for n in names)
    parameters: list[dict[str, str]] = []
    for name, value in zip(names, values, strict=True):
        parameter = {"type": "text", "text": value}
        if named:
            parameter["parameter_name"] = name
        parameters.append(parameter)
    return parameters


def _media_parameter(kind: str, value: str) -> dict[str, Any]:
    media: dict[str, str] = {"id": value} if value.isdigit() else {"link": value}
    if kind == "document" and "link" in media:
        # The name the customer sees; WhatsApp shows a generic one without it.
        filename = unquote(urlsplit(value).path.rsplit("/", 1)[-1])
        if "." in filename:
            media["filename"] = filename
    return {"type": kind, kind: media}


def send_object(template: Mapping[str, Any], values: Sequence[str] | Filled) -> dict[str, Any]:
    """The ``template`` object of the Cloud API's send request."""
    filled = _as_filled(values)
    sent: dict[str, Any] = {
        "name": template["name"],
        "language": {"code": template["language"]},
    }
    components: list[dict[str, Any]] = []
    kind = media_header(template)
    if kind is not None:
        components.append(
            {"type": "header", "parameters": [_media_parameter(kind, filled.header_media)]}
        )
    elif template.get("header_params"):
        components.append(
            {
                "type": "header",
                "parameters": _text_parameters(template["header_params"], filled.header_params),
            }
        )
    if template.get("params"):
        components.append(
            {"type": "body", "parameters": _text_parameters(template["params"], filled.params)}
        )
    dynamic = iter(filled.button_params)
    for button in template.get("buttons") or []:
        if button.get("type") == "QUICK_REPLY":
            payload = str(button.get("text") or "")[:MAX_PAYLOAD]
            parameter: dict[str, str] = {"type": "payload", "payload": payload}
            sub_type = "quick_reply"
        elif button.get("type") == "URL" and button.get("params"):
            parameter = {"type": "text", "text": next(dynamic, "")}
            sub_type = "url"
        else:
            continue  # a phone number or a fixed link: nothing to send
        components.append(
            {
                "type": "button",
                "sub_type": sub_type,
                "index": str(button["index"]),
                "parameters": [parameter],
            }
        )
    if components:
        sent["components"] = components
    return sent
