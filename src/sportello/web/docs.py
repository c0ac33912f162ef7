"""The API reference at /api/docs: Swagger UI, vendored (works offline) and CSP-clean (the page
loads its script from /static, nothing inline)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import escape

from sportello.web.render import csrf_token

router = APIRouter()

VENDOR = "/static/vendor/swagger-ui"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – API v1</title>
<meta name="sportello-openapi-url" content="{openapi_url}">
<meta name="csrf-token" content="{csrf}">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{vendor}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{vendor}/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script>
</body>
</html>
"""


@router.get("/api/docs", include_in_schema=False, response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    app = request.app
    html = PAGE.format(
        title=escape(app.title),
        openapi_url=escape(app.openapi_url or "/api/openapi.json"),
        csrf=escape(csrf_token(request)),
        vendor=VENDOR,
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
