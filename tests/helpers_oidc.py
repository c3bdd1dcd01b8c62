"""A small OpenID Connect provider, served for real over HTTP by uvicorn in a thread.

It publishes a discovery document and its signing key (JWKS), approves every
authorization request at once for the person it is told to sign in, and issues RS256 ID
tokens (joserfc, a real 2048-bit RSA key) at its token endpoint, after checking the
client's secret, the code, the redirect URI and the PKCE verifier, as a provider does.
Its ``faults`` make it misbehave on purpose: a wrong nonce, a wrong audience (with this
client as ``azp``), a token signed with another key. Its end-session endpoint (RP-Initiated
Logout) checks the ``id_token_hint`` it is handed (one it issued, to this client) and
sends the browser back to ``post_logout_redirect_uri``; with ``logout`` false its
discovery document names none.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from tests.helpers_net import free_port

CLIENT_ID = "followup-test"
CLIENT_SECRET = "a client secret of the test provider"


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str
    code_challenge: str
    claims: dict[str, Any]


@dataclass
class LocalProvider:
    issuer: str
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, auto_kid=True))
    # The claims of the person every authorization request signs in (besides sub).
    person: dict[str, Any] = field(default_factory=dict)
    # "nonce", "aud", "key": what the next ID tokens get wrong.
    faults: set[str] = field(default_factory=set)
    grants: dict[str, Grant] = field(default_factory=dict)
    token_requests: int = 0
    # Whether the discovery document names an end_session_endpoint.
    logout: bool = True
    issued: list[str] = field(default_factory=list)  # every ID token, in order
    # The query of every sign-out request that the endpoint accepted.
    logouts: list[dict[str, str]] = field(default_factory=list)

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "scopes_supported": ["openid", "profile", "email"],
        } | ({"end_session_endpoint": f"{self.issuer}/logout"} if self.logout else {})

    def id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer, "sub": f"sub-{grant.claims.get('preferred_username')}",
            "aud": "someone-else" if "aud" in self.faults else grant.client_id,
            "iat": now, "exp": now + 300, "auth_time": now,
            "nonce": "not-the-nonce" if "nonce" in self.faults else grant.nonce,
            **grant.claims,
        }
        if "aud" in self.faults:
            # For another client, handed on to this one: azp names this client, which
            # a check of azp alone would take for enough.
            claims["azp"] = grant.client_id
        key = self.key
        if "key" in self.faults:  # another key, under the published key's id
            key = RSAKey.generate_key(2048, parameters={"kid": self.key.kid})
        token = jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, key)
        self.issued.append(token)
        return token

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, Any]:
            return self.discovery()

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            return {"keys": [self.key.as_dict(private=False)]}

        @app.get("/authorize")
        def authorize(request: Request) -> Response:
            query = request.query_params
            wanted = {"response_type": "code", "client_id": CLIENT_ID,
                      "code_challenge_method": "S256"}
            if any(query.get(name) != value for name, value in wanted.items()):
                return JSONResponse({"error": "invalid_request"}, 400)
            if "openid" not in (query.get("scope") or "").split() or not query.get("nonce"):
                return JSONResponse({"error": "invalid_request"}, 400)
            code = secrets.token_urlsafe(16)
            self.grants[code] = Grant(CLIENT_ID, query["redirect_uri"], query["nonce"],
                                      query["code_challenge"], dict(self.person))
            # session_state: a parameter of the provider's own, which the client ignores.
            back = urlencode({"code": code, "state": query.get("state", ""),
                              "session_state": "abc"})
            return RedirectResponse(f"{query['redirect_uri']}?{back}", 302)

        @app.get("/logout")
        def logout(request: Request) -> Response:
            query = dict(request.query_params)
            hint, back = query.get("id_token_hint", ""), query.get("post_logout_redirect_uri")
            try:
                claims = jwt.decode(hint, self.key).claims
            except (JoseError, ValueError):
                return JSONResponse({"error": "invalid_request"}, 400)
            if claims.get("aud") != CLIENT_ID or query.get("client_id") != CLIENT_ID \
                    or not back:
                return JSONResponse({"error": "invalid_request"}, 400)
            self.logouts.append(query)
            return RedirectResponse(back, 302)

        @app.post("/token")
        async def token(request: Request) -> Response:
            self.token_requests += 1
            form = await request.form()
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {expected}":
                return JSONResponse({"error": "invalid_client"}, 401)
            grant = self.grants.pop(str(form.get("code")), None)
            if grant is None or form.get("grant_type") != "authorization_code":
                return JSONResponse({"error": "invalid_grant"}, 400)
            verifier = str(form.get("code_verifier", ""))
            challenge = base64.urlsafe_b64encode(
                hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if challenge != grant.code_challenge or form.get("redirect_uri") != grant.redirect_uri:
                return JSONResponse({"error": "invalid_grant"}, 400)
            return JSONResponse({"access_token": secrets.token_urlsafe(16),
                                 "token_type": "Bearer", "expires_in": 300,
                                 "id_token": self.id_token(grant)})

        return app


@contextmanager
def running_provider() -> Iterator[LocalProvider]:
    """The provider, listening on a free loopback port until the block ends."""
    port = free_port()
    provider = LocalProvider(issuer=f"http://127.0.0.1:{port}")
    server = uvicorn.Server(uvicorn.Config(provider.app(), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test OpenID provider did not start")
        time.sleep(0.02)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(timeout=10)
