"""The HTTP side of an order connector: builds requests from the templates, authenticates,
maps the shop's JSON to ``Order`` with JMESPath, and turns every failure into a
``ConnectorError`` whose message the agent reads (translated by the pages)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import jmespath
from jmespath.exceptions import JMESPathError

from sportello.config import get_settings
from sportello.core.security import decrypt_secret
from sportello.orders.models import AuthKind, OrderConnector
from sportello.webhooks import ssrf

_WHOLE = re.compile(r"^\{(\w+)(?::(int|float))?\}$")
_PART = re.compile(r"\{(\w+)\}")


class ConnectorError(Exception):
    """A call to the shop failed; ``message`` is a translatable sentence for the agent."""

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class Order:
    connector_id: int
    id: str
    number: str
    status: str
    total: str
    currency: str
    created_at: str
    items: list[str] = field(default_factory=list)
    cancellable: bool = False


def secrets_of(connector: OrderConnector) -> dict[str, str]:
    if not connector.secrets:
        return {}
    plain = decrypt_secret(connector.secrets, get_settings().effective_secret_key())
    data = json.loads(plain)
    return {str(k): str(v) for k, v in data.items()}


def fill_url(template: str, values: dict[str, str]) -> str:
    return _PART.sub(lambda m: quote(values.get(m.group(1), ""), safe=""), template)


def fill_body(template: Any, values: dict[str, str]) -> Any:
    """The JSON body template with the values put in (typed where the template says so)."""
    if isinstance(template, dict):
        return {k: fill_body(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill_body(v, values) for v in template]
    if isinstance(template, str):
        whole = _WHOLE.match(template)
        if whole and whole.group(2):
            raw = values.get(whole.group(1), "")
            try:
                return int(raw) if whole.group(2) == "int" else float(raw)
            except ValueError:
                return raw
        return _PART.sub(lambda m: values.get(m.group(1), ""), template)
    return template


class Client:
    def __init__(self, connector: OrderConnector) -> None:
        self.connector = connector
        self.settings = dict(connector.settings or {})
        self.mapping = dict(self.settings.get("mapping") or {})
        self._secrets = secrets_of(connector)

    # --- HTTP -----------------------------------------------------------------------------

    def _auth(self) -> tuple[dict[str, str], httpx.BasicAuth | None]:
        kind = self.connector.auth_kind
        s = self._secrets
        if kind == AuthKind.BEARER:
            return {"Authorization": f"Bearer {s.get('token', '')}"}, None
        if kind == AuthKind.BASIC:
            return {}, httpx.BasicAuth(self.settings.get("username", ""), s.get("password", ""))
        if kind == AuthKind.API_KEY:
            header = self.settings.get("api_key_header") or "X-API-Key"
            return {header: s.get("api_key", "")}, None
        if kind == AuthKind.WOOCOMMERCE:
            return {}, httpx.BasicAuth(s.get("consumer_key", ""), s.get("consumer_secret", ""))
        return {}, None

    def request(self, method: str, path: str, body: Any = None) -> Any:
        url = self.connector.base_url.rstrip("/") + "/" + path.lstrip("/")
        try:
            ssrf.guard(url, allow_private=self.connector.allow_private, field="base_url")
        except ssrf.BlockedTarget as exc:
            raise ConnectorError(
                "the shop's address is on a private network and is not allowed",
                detail=exc.message,
            ) from None
        headers, auth = self._auth()
        headers["Accept"] = "application/json"
        try:
            with httpx.Client(
                timeout=self.connector.timeout_seconds, follow_redirects=False
            ) as client:
                response = client.request(
                    method, url, headers=headers, auth=auth, json=body if body is not None else None
                )
        except httpx.TimeoutException:
            raise ConnectorError("the shop did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ConnectorError("the shop cannot be reached", detail=str(exc)) from None
        if response.status_code in (401, 403):
            raise ConnectorError("the shop refused the connector's credentials")
        if response.status_code == 404:
            raise ConnectorError("the shop does not know this order")
        if response.status_code >= 400:
            raise ConnectorError(
                "the shop answered with an error", detail=f"HTTP {response.status_code}"
            )
        try:
            return response.json() if response.content else None
        except ValueError:
            raise ConnectorError("the shop's answer could not be read") from None

    # --- mapping --------------------------------------------------------------------------

    def _pick(self, name: str, data: Any) -> Any:
        expression = self.mapping.get(name)
        if not expression:
            return None
        try:
            return jmespath.search(expression, data)
        except JMESPathError:
            raise ConnectorError("the connector's field mapping is not valid") from None

    def to_order(self, data: Any) -> Order:
        if not isinstance(data, dict):
            raise ConnectorError("the shop's answer could not be read")
        order_id = self._pick("id", data)
        if order_id is None:
            raise ConnectorError("the shop's answer has no order id")
        items = self._pick("items", data) or []
        status = str(self._pick("status", data) or "")
        cancellable = [str(s) for s in self.settings.get("cancellable") or []]
        return Order(
            connector_id=self.connector.id,
            id=str(order_id),
            number=str(self._pick("number", data) or order_id),
            status=status,
            total=str(self._pick("total", data) or ""),
            currency=str(self._pick("currency", data) or ""),
            created_at=str(self._pick("created_at", data) or ""),
            items=[str(i) for i in items] if isinstance(items, list) else [str(items)],
            cancellable=status in cancellable,
        )

    def to_orders(self, data: Any) -> list[Order]:
        found = self._pick("list", data) if self.mapping.get("list") else data
        if found is None:
            return []
        if not isinstance(found, list):
            raise ConnectorError("the shop's answer could not be read")
        return [self.to_order(item) for item in found]

    # --- operations -----------------------------------------------------------------------

    def lookup(self, *, emails: list[str], phones: list[str]) -> list[Order]:
        orders: dict[str, Order] = {}
        for key, values in (("lookup_email", emails), ("lookup_phone", phones)):
            template = self.settings.get(key)
            if not template:
                continue
            for value in values:
                url = fill_url(template, {"email": value, "phone": value})
                for order in self.to_orders(self.request("GET", url)):
                    orders.setdefault(order.id, order)
        return sorted(orders.values(), key=lambda o: o.created_at, reverse=True)

    def get(self, order_id: str) -> Order:
        return self.to_order(self.request("GET", fill_url(self.settings["get"], {"id": order_id})))

    def cancel(self, order_id: str) -> Order:
        path = fill_url(self.settings["cancel"], {"id": order_id})
        body = fill_body(self.settings.get("cancel_body") or {}, {"id": order_id})
        answer = self.request(self.settings.get("cancel_method") or "POST", path, body)
        if isinstance(answer, dict) and self._pick("id", answer) is not None:
            return self.to_order(answer)
        return self.get(order_id)

    def create(self, values: dict[str, str]) -> Order:
        body = fill_body(self.settings.get("create_body") or {}, values)
        answer = self.request(
            self.settings.get("create_method") or "POST", self.settings["create"], body
        )
        return self.to_order(answer)
