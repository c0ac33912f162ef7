"""Reference adapters: the settings of a generic REST shop and of WooCommerce REST API v3.

Templates take ``{email}``, ``{phone}``, ``{id}`` in URLs (URL-quoted) and, in JSON bodies,
``{email}``, ``{name}``, ``{phone}``, ``{product}``, ``{quantity}``, ``{note}``; a string that is
exactly ``"{quantity:int}"`` becomes a number. Mapping values are JMESPath expressions (a dotted
path such as ``billing.email`` is one) applied to each order object; ``list`` finds the orders in
a lookup answer (``@`` when the answer is the list itself).
"""

from __future__ import annotations

from typing import Any, Final

from sportello.orders.models import ConnectorKind

WOOCOMMERCE: Final[dict[str, Any]] = {
    "lookup_email": "/wp-json/wc/v3/orders?search={email}&per_page=10",
    "lookup_phone": "/wp-json/wc/v3/orders?search={phone}&per_page=10",
    "get": "/wp-json/wc/v3/orders/{id}",
    "create": "/wp-json/wc/v3/orders",
    "create_method": "POST",
    "create_body": {
        "status": "processing",
        "billing": {"email": "{email}", "first_name": "{name}", "phone": "{phone}"},
        "line_items": [{"product_id": "{product:int}", "quantity": "{quantity:int}"}],
        "customer_note": "{note}",
    },
    "cancel": "/wp-json/wc/v3/orders/{id}",
    "cancel_method": "PUT",
    "cancel_body": {"status": "cancelled"},
    "cancellable": ["pending", "processing", "on-hold"],
    "product_label": "Product id",
    "mapping": {
        "list": "@",
        "id": "id",
        "number": "number",
        "status": "status",
        "total": "total",
        "currency": "currency",
        "created_at": "date_created",
        "items": "line_items[].join(' × ', [to_string(quantity), name])",
    },
}

REST: Final[dict[str, Any]] = {
    "lookup_email": "/orders?email={email}",
    "lookup_phone": "/orders?phone={phone}",
    "get": "/orders/{id}",
    "create": "/orders",
    "create_method": "POST",
    "create_body": {
        "customer": {"email": "{email}", "name": "{name}", "phone": "{phone}"},
        "items": [{"sku": "{product}", "quantity": "{quantity:int}"}],
        "note": "{note}",
    },
    "cancel": "/orders/{id}/cancel",
    "cancel_method": "POST",
    "cancel_body": {},
    "cancellable": ["new", "paid"],
    "product_label": "SKU",
    "mapping": {
        "list": "orders",
        "id": "id",
        "number": "number",
        "status": "status",
        "total": "total.amount",
        "currency": "total.currency",
        "created_at": "created_at",
        "items": "items[].join(' × ', [to_string(quantity), title])",
    },
}

PRESETS: Final[dict[str, dict[str, Any]]] = {
    ConnectorKind.WOOCOMMERCE.value: WOOCOMMERCE,
    ConnectorKind.REST.value: REST,
}
