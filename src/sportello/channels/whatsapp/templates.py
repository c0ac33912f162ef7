"""WhatsApp message templates: what Meta's template list gives, what the console can send.

Outside the 24-hour window a business may only send a template Meta approved. The channel keeps
the approved ones in its settings (``templates``), synced from the Graph API's
``GET /{business-account-id}/message_templates``; an agent picks one and fills its body
parameters (``{{1}}``, ``{{2}}``, ... or, for templates with named parameters, ``{{name}}``).

The console fills body parameters only, so a template that needs anything else (a header image,
a header or button variable, a one-time-password button) is left out of the stored list and
named in ``templates_skipped`` for the admin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sportello.core.errors import InvalidInput

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
# Buttons that need no parameter when the template is sent.
PLAIN_BUTTONS = frozenset({"QUICK_REPLY", "PHONE_NUMBER", "URL", "VOICE_CALL"})
MAX_PARAM = 1000
# Meta refuses parameters with new lines, tabs or more than four spaces in a row (error 132018).
BAD_PARAM = re.compile(r"[\n\r\t]| {5,}")


@dataclass(frozen=True)
class Parsed:
    templates: list[dict[str, Any]]
    skipped: list[str]


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


def _needs_more_than_body(components: Sequence[Mapping[str, Any]]) -> bool:
    for component in components:
        kind = str(component.get("type") or "").upper()
        if kind == "BODY" or kind == "FOOTER":
            continue
        if kind == "HEADER":
            if str(component.get("format") or "TEXT").upper() != "TEXT":
                return True  # an image, video, document or location to upload with each send
            if PLACEHOLDER.search(str(component.get("text") or "")):
                return True
        elif kind == "BUTTONS":
            for button in component.get("buttons") or []:
                if not isinstance(button, Mapping):
                    return True
                if str(button.get("type") or "").upper() not in PLAIN_BUTTONS:
                    return True
                if PLACEHOLDER.search(str(button.get("url") or "")):
                    return True
        else:
            return True  # a carousel, a limited-time offer, ...: not something we can fill
    return False


def parse(items: Iterable[Any]) -> Parsed:
    """Meta's template list -> the approved templates the console can send, and the names of
    the approved ones it cannot."""
    templates: list[dict[str, Any]] = []
    skipped: list[str] = []
    for item in items:
        if not isinstance(item, Mapping) or str(item.get("status") or "").upper() != "APPROVED":
            continue
        name = str(item.get("name") or "")
        language = str(item.get("language") or "")
        if not name or not language:
            continue
        components = [c for c in item.get("components") or [] if isinstance(c, Mapping)]
        texts = {
            str(c.get("type") or "").upper(): str(c.get("text") or "")
            for c in components
            if c.get("text") is not None
        }
        if _needs_more_than_body(components):
            skipped.append(f"{name} ({language})")
            continue
        body = texts.get("BODY", "")
        templates.append(
            {
                "name": name,
                "language": language,
                "header": texts.get("HEADER", ""),
                "body": body,
                "footer": texts.get("FOOTER", ""),
                "params": placeholders(body),
            }
        )
    templates.sort(key=lambda t: (t["name"], t["language"]))
    return Parsed(templates, sorted(skipped))


def find(settings: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    for template in settings.get("templates") or []:
        if isinstance(template, dict) and key_of(template) == key:
            return template
    return None


def check_params(template: Mapping[str, Any], values: Sequence[str]) -> list[str]:
    names = list(template.get("params") or [])
    cleaned = [v.strip() for v in values]
    if len(cleaned) != len(names) or not all(cleaned):
        raise InvalidInput("fill in every parameter of the template", field="params")
    for value in cleaned:
        if len(value) > MAX_PARAM:
            raise InvalidInput("a template parameter is too long", field="params")
        if BAD_PARAM.search(value):
            raise InvalidInput(
                "a template parameter cannot contain new lines, tabs or more than four spaces "
                "in a row",
                field="params",
            )
    return cleaned


def render(template: Mapping[str, Any], values: Sequence[str]) -> str:
    """The text the customer reads: the body with its parameters filled in."""
    by_name = dict(zip(template.get("params") or [], values, strict=True))
    body = PLACEHOLDER.sub(lambda m: by_name.get(m.group(1), m.group(0)), str(template["body"]))
    return "\n\n".join(p for p in (template.get("header"), body, template.get("footer")) if p)


def send_object(template: Mapping[str, Any], values: Sequence[str]) -> dict[str, Any]:
    """The ``template`` object of the Cloud API's send request."""
    names = list(template.get("params") or [])
    named = not all(n.isdigit() for n in names)
    sent: dict[str, Any] = {
        "name": template["name"],
        "language": {"code": template["language"]},
    }
    if names:
        parameters: list[dict[str, str]] = []
        for name, value in zip(names, values, strict=True):
            parameter = {"type": "text", "text": value}
            if named:
                parameter["parameter_name"] = name
            parameters.append(parameter)
        sent["components"] = [{"type": "body", "parameters": parameters}]
    return sent
