"""The API reference at /api/docs: Swagger UI, vendored (works offline) and CSP-clean (the page
loads its script from /static, nothing inline)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
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


# ---- the OpenAPI document says what the server does ------------------------------------------

# Ids are 32-bit on PostgreSQL; a larger one in a path, a filter or a body is the caller's error.
MAX_ID = 2**31 - 1
PROBLEM = {
    "type": "object",
    "description": "An RFC 9457 problem. Validation errors list the fields in `errors`.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "required": ["type", "title", "status"],
}
_PROBLEM_RESPONSE = {
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
}


def describe_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Every error is problem+json (core/errors.py): say so on every operation, in place of
    FastAPI's own 422 body, and bound integer ids to what the database holds."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            responses["422"] = {"description": "Invalid input", **_PROBLEM_RESPONSE}
            responses["4XX"] = {
                "description": "Not signed in, not allowed, not found, conflict, too many "
                "requests or too large",
                **_PROBLEM_RESPONSE,
            }
            for param in operation.get("parameters", []):
                schema_ = param.get("schema", {})
                _bound_id(param.get("name", ""), schema_)
                # Every integer in a path or a query ends up compared with a column.
                for option in [schema_, *schema_.get("anyOf", [])]:
                    if option.get("type") == "integer":
                        option.setdefault("maximum", MAX_ID)
    for component in components.values():
        for name, prop in (component.get("properties") or {}).items():
            _bound_id(name, prop)
            for option in prop.get("anyOf", []):
                _bound_id(name, option)
            if prop.get("type") == "array":
                _bound_id(name, prop.get("items", {}))
    return schema


def _bound_id(name: str, schema: dict[str, Any]) -> None:
    if schema.get("type") == "integer" and (name == "id" or name.endswith(("_id", "_ids"))):
        schema.setdefault("minimum", 1)
        schema.setdefault("maximum", MAX_ID)


def install_openapi(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe_problems(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
