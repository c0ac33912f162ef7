"""A small fake shop speaking WooCommerce REST API v3 (``/wp-json/wc/v3/orders``) and a generic
REST dialect (``/rest/orders``), for the demo and the tests.

- The demo serves it at ``/demo/negozio`` (``router`` below; not in the API schema): the demo's
  WooCommerce-style connector points at it, so demo agents see orders of every customer (made
  up from the e-mail address, the same every time) and can register and cancel them.
- The tests start it on a free loopback port with ``make_app(FakeShop(...))``.

Orders live in memory; the demo's reset on restart.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

PRODUCTS = {
    101: ("Sapone alla lavanda", "8.50"),
    102: ("Sacchetto profumato", "6.00"),
    103: ("Olio essenziale 10 ml", "12.90"),
    104: ("Candela alla lavanda", "18.00"),
    105: ("Crema mani", "9.80"),
}
SKUS = {f"LAV-{pid}": pid for pid in PRODUCTS}


class FakeShop:
    def __init__(
        self,
        *,
        consumer_key: str,
        consumer_secret: str,
        token: str = "",
        generate: bool = False,
        delay: float = 0.0,
    ) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.token = token
        self.generate = generate  # make up a few orders for any e-mail it is asked about
        self.delay = delay  # seconds every answer waits (timeouts in tests)
        self.orders: dict[int, dict[str, Any]] = {}
        self.seen: set[str] = set()
        self.next_id = 4100
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []

    def add(
        self,
        email: str,
        items: list[tuple[int, int]],
        *,
        status: str = "processing",
        phone: str = "",
        created: datetime | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            self.next_id += 1
            oid = self.next_id
        lines: list[dict[str, Any]] = [
            {
                "id": oid * 10 + i,
                "product_id": pid,
                "sku": f"LAV-{pid}",
                "name": PRODUCTS.get(pid, ("Articolo", "10.00"))[0],
                "quantity": qty,
                "total": f"{float(PRODUCTS.get(pid, ('', '10.00'))[1]) * qty:.2f}",
            }
            for i, (pid, qty) in enumerate(items)
        ]
        order = {
            "id": oid,
            "number": str(oid),
            "status": status,
            "currency": "EUR",
            "date_created": (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S"),
            "total": f"{sum(float(str(li['total'])) for li in lines):.2f}",
            "billing": {"email": email.lower(), "first_name": "", "phone": phone},
            "line_items": lines,
            "customer_note": "",
        }
        self.orders[oid] = order
        return order

    def _generate(self, email: str) -> None:
        if not self.generate or email in self.seen or "@" not in email:
            return
        self.seen.add(email)
        digest = hashlib.sha256(email.encode()).digest()
        statuses = ("completed", "processing", "on-hold", "completed")
        now = datetime.now(UTC)
        for n in range(1 + digest[0] % 3):
            pid = 101 + digest[n + 1] % len(PRODUCTS)
            self.add(
                email,
                [(pid, 1 + digest[n + 4] % 3)],
                status=statuses[digest[n + 7] % len(statuses)],
                created=now - timedelta(days=2 + digest[n + 10] % 40),
            )

    def find(self, term: str) -> list[dict[str, Any]]:
        term = term.strip().lower()
        self._generate(term)
        return sorted(
            (
                o
                for o in self.orders.values()
                if term and term in (o["billing"]["email"], o["billing"]["phone"])
            ),
            key=lambda o: o["id"],
            reverse=True,
        )

    # --- auth -------------------------------------------------------------------------------

    def woo_ok(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return False
            return user == self.consumer_key and password == self.consumer_secret
        q = request.query_params
        return (
            q.get("consumer_key") == self.consumer_key
            and q.get("consumer_secret") == self.consumer_secret
        )

    def rest_ok(self, request: Request) -> bool:
        return bool(self.token) and request.headers.get("authorization") == f"Bearer {self.token}"


def _rest(order: dict[str, Any]) -> dict[str, Any]:
    """An order in the generic REST dialect."""
    return {
        "id": f"R{order['id']}",
        "number": f"CL-{order['id']}",
        "status": {"processing": "paid", "pending": "new"}.get(order["status"], order["status"]),
        "created_at": order["date_created"],
        "customer": {"email": order["billing"]["email"], "phone": order["billing"]["phone"]},
        "total": {"amount": order["total"], "currency": order["currency"]},
        "items": [
            {"sku": li["sku"], "title": li["name"], "quantity": li["quantity"]}
            for li in order["line_items"]
        ],
    }


def shop_router(shop: FakeShop, prefix: str = "") -> APIRouter:
    router = APIRouter(prefix=prefix, include_in_schema=False)
    unauthorized = JSONResponse(
        {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources."},
        status_code=401,
    )
    missing = JSONResponse(
        {"code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID."},
        status_code=404,
    )

    def wait() -> None:
        if shop.delay:
            time.sleep(shop.delay)

    def order_or_none(raw: str) -> dict[str, Any] | None:
        raw = raw[1:] if raw.startswith("R") else raw
        return shop.orders.get(int(raw)) if raw.isdigit() and len(raw) < 12 else None

    @router.get("/wp-json/wc/v3/orders")
    def woo_list(request: Request, search: str = "", per_page: int = 10) -> Response:
        shop.requests.append(("GET", request.url.path))
        wait()
        if not shop.woo_ok(request):
            return unauthorized
        return JSONResponse(shop.find(search)[: max(1, min(per_page, 100))])

    @router.get("/wp-json/wc/v3/orders/{order_id}")
    def woo_get(request: Request, order_id: str) -> Response:
        wait()
        if not shop.woo_ok(request):
            return unauthorized
        order = order_or_none(order_id)
        return JSONResponse(order) if order else missing

    @router.put("/wp-json/wc/v3/orders/{order_id}")
    async def woo_update(request: Request, order_id: str) -> Response:
        shop.requests.append(("PUT", request.url.path))
        if not shop.woo_ok(request):
            return unauthorized
        order = order_or_none(order_id)
        if order is None:
            return missing
        body = await request.json()
        if "status" in body:
            order["status"] = str(body["status"])
        return JSONResponse(order)

    @router.post("/wp-json/wc/v3/orders")
    async def woo_create(request: Request) -> Response:
        shop.requests.append(("POST", request.url.path))
        if not shop.woo_ok(request):
            return unauthorized
        body = await request.json()
        billing = body.get("billing") or {}
        items = [
            (int(li.get("product_id") or 0), int(li.get("quantity") or 1))
            for li in body.get("line_items") or []
        ]
        if not items or any(pid not in PRODUCTS for pid, _ in items):
            return JSONResponse(
                {"code": "woocommerce_rest_invalid_product_id", "message": "Invalid product."},
                status_code=400,
            )
        order = shop.add(
            str(billing.get("email") or ""),
            items,
            status=str(body.get("status") or "pending"),
            phone=str(billing.get("phone") or ""),
        )
        order["billing"]["first_name"] = str(billing.get("first_name") or "")
        order["customer_note"] = str(body.get("customer_note") or "")
        return JSONResponse(order, status_code=201)

    @router.get("/rest/orders")
    def rest_list(request: Request, email: str = "", phone: str = "") -> Response:
        wait()
        if not shop.rest_ok(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return JSONResponse({"orders": [_rest(o) for o in shop.find(email or phone)]})

    @router.get("/rest/orders/{order_id}")
    def rest_get(request: Request, order_id: str) -> Response:
        if not shop.rest_ok(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        order = order_or_none(order_id)
        return JSONResponse(_rest(order)) if order else JSONResponse({}, status_code=404)

    @router.post("/rest/orders/{order_id}/cancel")
    def rest_cancel(request: Request, order_id: str) -> Response:
        if not shop.rest_ok(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        order = order_or_none(order_id)
        if order is None:
            return JSONResponse({}, status_code=404)
        order["status"] = "cancelled"
        return JSONResponse(_rest(order))

    @router.post("/rest/orders")
    async def rest_create(request: Request) -> Response:
        if not shop.rest_ok(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        body = await request.json()
        items = [
            (SKUS.get(str(i.get("sku")), 0), int(i.get("quantity") or 1))
            for i in body.get("items") or []
        ]
        if not items or any(pid not in PRODUCTS for pid, _ in items):
            return JSONResponse({"error": "unknown sku"}, status_code=422)
        customer = body.get("customer") or {}
        order = shop.add(
            str(customer.get("email") or ""),
            items,
            status="pending",
            phone=str(customer.get("phone") or ""),
        )
        return JSONResponse(_rest(order), status_code=201)

    return router


def make_app(shop: FakeShop) -> FastAPI:
    app = FastAPI()
    app.include_router(shop_router(shop))
    return app


DEMO_PREFIX = "/demo/negozio"
DEMO_SHOP = FakeShop(
    consumer_key="ck_casalavanda_demo",
    consumer_secret="cs_casalavanda_demo",  # noqa: S106  (the demo shop's made-up key)
    generate=True,
)
router = shop_router(DEMO_SHOP, DEMO_PREFIX)
