"""OpenID Connect sign-in with a hospital's provider (Authlib's client, joserfc's JWTs).

The flow is the Authorization Code flow with PKCE (S256), a ``state`` and a ``nonce``:

1. :meth:`OidcClient.begin` reads the provider's discovery document
   (``<issuer>/.well-known/openid-configuration``) and returns the address to send the
   browser to, with a new :class:`Login` (state, nonce, PKCE verifier) that the caller
   keeps for the browser until it comes back;
2. :meth:`OidcClient.finish` takes the code the provider sent back, exchanges it at the
   token endpoint (with the client secret and the PKCE verifier), and checks the ID token:
   its signature against the provider's published keys (JWKS), then ``iss`` (the
   configured issuer), ``aud`` (this client), ``exp``, ``iat`` and ``nonce`` (the one of
   this login). Only then are its claims returned, with the ID token itself;
3. :meth:`OidcClient.logout_url` is where to send the browser to sign out at the provider
   too (RP-Initiated Logout 1.0), when its discovery document names an
   ``end_session_endpoint``: with the ID token as ``id_token_hint``, this client's id and
   ``post_logout_redirect_uri`` (the sign-in page) for the provider to send it back.

Every call to the provider gives up after ``OIDC_TIMEOUT_SECONDS``. Anything wrong (the
provider unreachable or refusing, a token that fails a check) is :class:`OidcError`,
whose message says what, without any secret.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from app.settings import OidcSettings

CALLBACK_PATH = "/signin/sso/callback"
# Where the provider sends the browser back after signing out there.
SIGNED_OUT_PATH = "/signin"
SCOPE = "openid profile email"
# How far the provider's clock may be from ours when checking exp and iat.
LEEWAY_SECONDS = 60


class OidcError(Exception):
    """The provider could not be used, or what it sent fails a check."""


@dataclass(frozen=True, slots=True)
class Login:
    """One sign-in in progress: kept for the browser between leaving and coming back."""

    state: str
    nonce: str
    code_verifier: str

    @classmethod
    def new(cls) -> Login:
        return cls(state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                   code_verifier=secrets.token_urlsafe(64))  # 86 characters (RFC 7636: 43-128)

    def state_matches(self, state: str | None) -> bool:
        return bool(state) and hmac.compare_digest(self.state.encode(), str(state).encode())


@dataclass(frozen=True, slots=True)
class Provider:
    """What the discovery document says, as far as this flow uses it."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]
    end_session_endpoint: str | None = None  # RP-Initiated Logout, when it has one


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A single sign-on's checked claims, and its ID token as the provider issued it."""

    claims: Mapping[str, Any]
    id_token: str


def redirect_uri(settings: OidcSettings, base_url: str) -> str:
    return (settings.redirect_base_url or base_url).rstrip("/") + CALLBACK_PATH


def post_logout_redirect_uri(settings: OidcSettings, base_url: str) -> str:
    return (settings.redirect_base_url or base_url).rstrip("/") + SIGNED_OUT_PATH


class OidcClient:
    """The provider of ``settings`` (which must be :attr:`OidcSettings.configured`)."""

    def __init__(self, settings: OidcSettings, *, base_url: str) -> None:
        assert settings.configured and settings.issuer and settings.client_id
        assert settings.client_secret is not None
        self.settings = settings
        self.issuer = settings.issuer.rstrip("/")
        self.client_id = settings.client_id
        self._secret = settings.client_secret.get_secret_value()
        self.redirect_uri = redirect_uri(settings, base_url)
        self.post_logout_redirect_uri = post_logout_redirect_uri(settings, base_url)

    def _session(self) -> OAuth2Session:
        return OAuth2Session(
            client_id=self.client_id, client_secret=self._secret, scope=SCOPE,
            redirect_uri=self.redirect_uri, code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",
            default_timeout=self.settings.timeout_seconds,
        )

    def _get_json(self, url: str, what: str) -> Mapping[str, Any]:
        try:
            response = requests.get(url, timeout=self.settings.timeout_seconds)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise OidcError(f"the provider's {what} could not be read ({url}):"
                            f" {type(exc).__name__}") from exc
        if not isinstance(document, Mapping):
            raise OidcError(f"the provider's {what} is not a JSON object ({url})")
        return document

    def discover(self) -> Provider:
        url = f"{self.issuer}/.well-known/openid-configuration"
        found = self._get_json(url, "discovery document")
        if str(found.get("issuer", "")).rstrip("/") != self.issuer:
            raise OidcError(f"the discovery document names issuer {found.get('issuer')!r},"
                            f" not the configured {self.issuer!r}")
        try:
            return Provider(
                issuer=str(found["issuer"]),
                authorization_endpoint=str(found["authorization_endpoint"]),
                token_endpoint=str(found["token_endpoint"]),
                jwks_uri=str(found["jwks_uri"]),
                algorithms=tuple(found.get("id_token_signing_alg_values_supported")
                                 or ("RS256",)),
                end_session_endpoint=(str(found["end_session_endpoint"])
                                      if found.get("end_session_endpoint") else None),
            )
        except KeyError as exc:
            raise OidcError(f"the discovery document has no {exc.args[0]}") from exc

    def begin(self) -> tuple[str, Login]:
        """Where to send the browser, and the login to keep until it comes back."""
        provider = self.discover()
        login = Login.new()
        with self._session() as client:
            url, _ = client.create_authorization_url(
                provider.authorization_endpoint, state=login.state, nonce=login.nonce,
                code_verifier=login.code_verifier,
            )
        return str(url), login

    def finish(self, *, code: str, login: Login) -> SignedIn:
        """The checked claims of the ID token the provider gives for ``code``."""
        provider = self.discover()
        try:
            with self._session() as client:
                token = client.fetch_token(
                    provider.token_endpoint, grant_type="authorization_code", code=code,
                    code_verifier=login.code_verifier,
                )
        except (requests.RequestException, AuthlibBaseError, ValueError) as exc:
            raise OidcError(f"the provider refused the code: {_reason(exc)}") from exc
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("the provider's answer has no ID token")
        claims = self.check_id_token(provider, id_token, nonce=login.nonce,
                                     access_token=token.get("access_token"))
        return SignedIn(claims=claims, id_token=id_token)

    def logout_url(self, id_token: str) -> str | None:
        """Where to send the browser to sign out at the provider, or None when its
        discovery document names no ``end_session_endpoint``."""
        endpoint = self.discover().end_session_endpoint
        if endpoint is None:
            return None
        query = urlencode({"id_token_hint": id_token, "client_id": self.client_id,
                           "post_logout_redirect_uri": self.post_logout_redirect_uri})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    def check_id_token(self, provider: Provider, id_token: str, *, nonce: str,
                       access_token: object = None) -> Mapping[str, Any]:
        keys = self._get_json(provider.jwks_uri, "signing keys (JWKS)")
        try:
            key_set = KeySet.import_key_set(dict(keys))  # type: ignore[arg-type]
            decoded = jwt.decode(id_token, key_set,
                                 registry=JWSRegistry(algorithms=list(provider.algorithms)))
        except (JoseError, ValueError, TypeError) as exc:
            raise OidcError(f"the ID token's signature is not valid: {_reason(exc)}") from exc
        params: dict[str, Any] = {"nonce": nonce, "client_id": self.client_id}
        if isinstance(access_token, str):
            params["access_token"] = access_token
        # aud must name this client: without this option Authlib's IDToken accepts another
        # audience when azp names this client.
        options = {"iss": {"essential": True, "values": [provider.issuer]},
                   "aud": {"essential": True, "values": [self.client_id]}}
        claims = CodeIDToken(decoded.claims, decoded.header, options, params)
        try:
            claims.validate(leeway=LEEWAY_SECONDS)
        except (JoseError, AuthlibBaseError, ValueError) as exc:
            raise OidcError(f"the ID token is not valid: {_reason(exc)}") from exc
        return dict(claims)


def _reason(exc: Exception) -> str:
    description = getattr(exc, "description", None) or getattr(exc, "error", None)
    return f"{type(exc).__name__}: {description or exc}"[:300]
