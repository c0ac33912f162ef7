"""A small but real OpenID Connect provider for the tests: discovery, JWKS, an authorization
endpoint with a sign-in form, a token endpoint that checks the client's secret, the redirect
URI and the PKCE verifier (S256), and id_tokens signed RS256 with joserfc. It runs on a free
loopback port (uvicorn in a thread). ``misbehave`` makes it send a token that must be refused."""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "sportello-test"


@lru_cache(maxsize=1)
def _keys() -> tuple[RSAKey, RSAKey]:
    """The signing key, and another with the same kid (a forged signature). Made once."""
    return (
        RSAKey.generate_key(2048, parameters={"kid": "k1"}),
        RSAKey.generate_key(2048, parameters={"kid": "k1"}),
    )


CLIENT_SECRET = "segreto-del-client-di-prova"


@dataclass
class Account:
    sub: str
    name: str
    email_verified: bool = True


@dataclass
class Provider:
    issuer: str = ""
    accounts: dict[str, Account] = field(default_factory=dict)
    auto_email: str | None = None  # sign this account in without showing the form
    misbehave: str | None = None  # "aud", "nonce", "expired", "signature", "iss"
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    key: RSAKey = field(default_factory=lambda: _keys()[0])
    other_key: RSAKey = field(default_factory=lambda: _keys()[1])

    def reset(self) -> None:
        self.accounts.clear()
        self.codes.clear()
        self.token_requests.clear()
        self.auto_email = None
        self.misbehave = None

    # ---- endpoints

    def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            }
        )

    def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            form = await request.form()
            params = {k: str(v) for k, v in form.items()}
        if params.get("client_id") != CLIENT_ID or params.get("response_type") != "code":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return JSONResponse({"error": "invalid_request", "detail": "PKCE"}, status_code=400)
        email = params.get("email") or self.auto_email
        if request.method == "GET" and self.auto_email is None:
            hidden = "".join(
                f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                for k, v in params.items()
            )
            return HTMLResponse(
                "<!doctype html><title>Keycloak di prova</title><h1>Accedi a Casa Lavanda</h1>"
                f'<form method="post">{hidden}<label>Email <input name="email" '
                'type="email"></label><button type="submit" id="idp-login">Accedi</button></form>'
            )
        if email not in self.accounts:
            return HTMLResponse("unknown account", status_code=403)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {**params, "email": email}
        target = f"{params['redirect_uri']}?{urlencode({'code': code, 'state': params['state']})}"
        return RedirectResponse(target, status_code=302)

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(form)
        auth = request.headers.get("authorization", "")
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if auth != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant", "detail": "redirect"}, status_code=400)
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if challenge != grant["code_challenge"]:
            return JSONResponse({"error": "invalid_grant", "detail": "PKCE"}, status_code=400)
        account = self.accounts[grant["email"]]
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": account.sub,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.get("nonce"),
            "email": grant["email"],
            "email_verified": account.email_verified,
            "name": account.name,
        }
        key = self.key
        if self.misbehave == "aud":
            claims["aud"] = "someone-else"
        elif self.misbehave == "nonce":
            claims["nonce"] = "replayed"
        elif self.misbehave == "expired":
            claims["iat"], claims["exp"] = now - 900, now - 600
        elif self.misbehave == "iss":
            claims["iss"] = "https://evil.example"
        elif self.misbehave == "signature":
            key = self.other_key  # same kid, another key: the signature cannot verify
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "id_token": id_token,
            }
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize, methods=["GET", "POST"]),
                Route("/token", self.token, methods=["POST"]),
            ]
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_provider() -> Iterator[Provider]:
    import uvicorn

    port = _free_port()
    provider = Provider(issuer=f"http://127.0.0.1:{port}/realms/casalavanda")
    from starlette.routing import Mount

    app = Starlette(
        routes=[
            Route("/favicon.ico", lambda request: Response(status_code=204)),
            Mount("/realms/casalavanda", app=provider.app()),
        ]
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="oidc-provider", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test OIDC provider did not start")
        time.sleep(0.02)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(timeout=10)
