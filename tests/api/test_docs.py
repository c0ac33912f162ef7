"""The OpenAPI document and the offline, CSP-clean API reference page."""

from __future__ import annotations

import re

V1_ROUTES = {
    ("/api/v1/users", "get"),
    ("/api/v1/users", "post"),
    ("/api/v1/users/me", "get"),
    ("/api/v1/users/{user_id}", "get"),
    ("/api/v1/tokens", "get"),
    ("/api/v1/tokens", "post"),
    ("/api/v1/tokens/{token_id}", "delete"),
    ("/api/v1/customers", "get"),
    ("/api/v1/customers", "post"),
    ("/api/v1/customers/{customer_id}", "get"),
    ("/api/v1/customers/{customer_id}", "patch"),
    ("/api/v1/customers/{customer_id}/identities", "post"),
    ("/api/v1/customers/{customer_id}/merge", "post"),
    ("/api/v1/conversations", "get"),
    ("/api/v1/conversations/{conversation_id}", "get"),
    ("/api/v1/conversations/{conversation_id}", "patch"),
    ("/api/v1/conversations/{conversation_id}/messages", "get"),
    ("/api/v1/conversations/{conversation_id}/replies", "post"),
    ("/api/v1/conversations/{conversation_id}/notes", "post"),
    ("/api/v1/conversations/{conversation_id}/status", "put"),
    ("/api/v1/conversations/{conversation_id}/assignee", "put"),
    ("/api/v1/channels/{public_id}/messages", "post"),
}


def test_openapi_lists_the_v1_routes_with_problem_errors(client):
    spec = client.get("/api/openapi.json").json()
    listed = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert listed >= V1_ROUTES
    assert all(path.startswith("/api/") for path, _ in listed)  # no console routes
    reply = spec["paths"]["/api/v1/conversations/{conversation_id}/replies"]["post"]
    for status in ("401", "403", "404", "409", "422"):
        assert "application/problem+json" in reply["responses"][status]["content"]
    assert reply["security"] == [{"ApiToken": []}]
    assert "Problem" in spec["components"]["schemas"]


def test_docs_page_works_offline_under_the_csp(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    html = page.text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts, "no script tags"
    for attrs, body in scripts:
        assert body.strip() == "", "inline script"
        src = re.search(r'src="([^"]+)"', attrs)
        assert src and src.group(1).startswith("/static/")  # served by us: works offline
    assert "style=" not in html and "<style" not in html
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert client.get(asset).status_code == 200, asset
    assert "cdn" not in html.lower()
    assert client.get("/static/vendor/swagger-ui/LICENSE").status_code == 200


def test_fastapis_own_docs_routes_are_off(client):
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404
