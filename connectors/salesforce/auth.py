"""Salesforce login flows: the auth config in, an access token and the
org's instance URL out.

The client library builds its login URLs as ``https://{domain}.salesforce.com``
and retries a refresh up to three times on its own; alignmon needs a
configurable login host (My Domain, proxies, test servers) and exactly one
renewal per expired session, so the flows are spoken here over the same
``requests`` session the library then uses for data calls. Secrets are
revealed only into request bodies and headers, never into messages.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.parsers.expat import ExpatError

import jwt
import requests
from simple_salesforce.util import getUniqueElementValueFromXmlString

from connectors.salesforce.settings import SalesforceAuth

#: JWT assertions are single-use proofs; Salesforce accepts at most 3 minutes.
JWT_LIFETIME_SECONDS = 180


class LoginFailed(Exception):
    """The login server refused (``status`` < 500: a person must fix the
    credentials) or failed (≥ 500: try again later). Carries no secret."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        super().__init__(f"{code}: {message}" if message else code)


@dataclass(frozen=True, slots=True)
class Login:
    token: str
    instance_url: str


def login(session: requests.Session, auth: SalesforceAuth, api_version: str) -> Login:
    """Run the configured login flow (not ``session_id``, which has none)."""
    flow = auth.flow
    if flow == "password":
        return _soap_login(session, auth, api_version)
    token_url = f"{auth.login_url}/services/oauth2/token"
    headers: dict[str, str] = {}
    if flow == "oauth_password":
        form = {
            "grant_type": "password",
            "client_id": auth.consumer_key,
            "client_secret": _reveal(auth.consumer_secret),
            "username": auth.username,
            "password": _reveal(auth.password) + _reveal(auth.security_token),
        }
    elif flow == "jwt":
        form = {
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": _jwt_assertion(auth),
        }
    elif flow == "client_credentials":
        pair = f"{auth.consumer_key}:{_reveal(auth.consumer_secret)}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        form = {"grant_type": "client_credentials"}
    else:
        raise LoginFailed(0, "NO_LOGIN_FLOW", f"the {flow} flow cannot log in")
    response = session.post(token_url, data=form, headers=headers)
    body = _json(response)
    if response.status_code != 200 or not body.get("access_token"):
        raise LoginFailed(
            response.status_code,
            str(body.get("error") or f"HTTP {response.status_code}"),
            str(body.get("error_description") or ""),
        )
    return Login(str(body["access_token"]), str(body.get("instance_url") or ""))


def _reveal(secret: Any) -> str:
    return secret.reveal() if secret is not None else ""


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _jwt_assertion(auth: SalesforceAuth) -> str:
    path = auth.private_key_file or ""
    try:
        key = Path(path).read_bytes()
    except OSError as exc:
        raise LoginFailed(0, "PRIVATE_KEY_UNREADABLE", f"{path}: {exc.strerror}") from None
    claims = {
        "iss": auth.consumer_key,
        "sub": auth.username,
        "aud": auth.jwt_audience,
        "exp": int(time.time()) + JWT_LIFETIME_SECONDS,
    }
    try:
        return jwt.encode(claims, key, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError):
        # PyJWT raises InvalidKeyError for a file that is not a PEM key.
        raise LoginFailed(0, "PRIVATE_KEY_INVALID", f"{path} is not an RSA private key") from None


_SOAP_LOGIN = """<?xml version="1.0" encoding="utf-8" ?>
<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:urn="urn:partner.soap.sforce.com">
  <env:Body>
    <n1:login xmlns:n1="urn:partner.soap.sforce.com">
      <n1:username>{username}</n1:username>
      <n1:password>{password}</n1:password>
    </n1:login>
  </env:Body>
</env:Envelope>"""


def _soap_login(session: requests.Session, auth: SalesforceAuth, api_version: str) -> Login:
    """Username + password (+ security token) through the SOAP ``login``
    call, the only flow that needs no connected app."""
    body = _SOAP_LOGIN.format(
        username=escape(auth.username or ""),
        password=escape(_reveal(auth.password) + _reveal(auth.security_token)),
    )
    response = session.post(
        f"{auth.login_url}/services/Soap/u/{api_version}",
        data=body.encode(),
        headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "login"},
    )
    content = response.content
    session_id = server_url = ""
    if response.status_code == 200:
        session_id = _xml_value(content, "sessionId")
        server_url = _xml_value(content, "serverUrl")
    if not session_id or not server_url:
        code = _xml_value(content, "sf:exceptionCode")
        message = _xml_value(content, "sf:exceptionMessage")
        # SOAP faults arrive as HTTP 500 even for a wrong password; only a
        # fault without a code, or an outage code, is the server's problem.
        status = 400 if code and code != "SERVER_UNAVAILABLE" else response.status_code
        raise LoginFailed(status, code or f"HTTP {response.status_code}", message)
    parts = urlsplit(server_url)
    # Old pods answer with their SOAP host (na1-api.…); REST lives on na1.…
    return Login(session_id, f"{parts.scheme}://{parts.netloc.replace('-api.', '.', 1)}")


def _xml_value(content: bytes, name: str) -> str:
    try:
        return getUniqueElementValueFromXmlString(content, name) or ""
    except ExpatError:  # a proxy's HTML error page is not XML; the status says enough
        return ""
