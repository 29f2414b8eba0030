"""`[auth]` in finops.toml -> the OIDC settings Streamlit's `st.login` reads from its secrets.

With `[auth]`, `finops dashboard` writes a private secrets file (mode 0600, in a temporary
folder removed when the server stops) and passes it with `--secrets.files`; the app then shows
nothing but the login to an anonymous visitor. Without `[auth]` the dashboard only binds to the
loopback interface. The client secret can stay out of the file: `client_secret_env` names an
environment variable that holds it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.errors import ConfigError
from models.sections import parse_section
from models.settings import AuthSettings

REQUIRED = ("client_id", "server_metadata_url")


@dataclass(frozen=True)
class AuthConfig:
    client_id: str
    client_secret: str
    server_metadata_url: str
    redirect_uri: str | None = None
    cookie_secret: str | None = None


def parse_auth(
    section: AuthSettings | dict[str, Any], origin: str = "finops.toml"
) -> AuthConfig | None:
    """None when there is no [auth]; else the checked settings with the secret resolved."""
    auth = parse_section(AuthSettings, section, "auth", origin)
    if not auth.configured:
        return None
    missing = [k for k in REQUIRED if getattr(auth, k) is None]
    if missing:
        raise ConfigError(
            f"[auth] is missing {', '.join(missing)}",
            file=origin,
            expected="client_id, server_metadata_url (the provider's "
            ".well-known/openid-configuration) and client_secret or client_secret_env",
        )
    secret = auth.client_secret
    if secret is None and auth.client_secret_env is not None:
        secret = os.environ.get(auth.client_secret_env)
        if not secret:
            raise ConfigError(
                f"[auth] client_secret_env names {auth.client_secret_env}, which is not set",
                file=origin,
                hint=f"export {auth.client_secret_env}=... before `finops dashboard`",
            )
    if not secret:
        raise ConfigError("[auth] needs client_secret or client_secret_env", file=origin)
    return AuthConfig(
        client_id=auth.client_id,
        client_secret=secret,
        server_metadata_url=auth.server_metadata_url,
        redirect_uri=auth.redirect_uri,
        cookie_secret=auth.cookie_secret,
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, auth: AuthConfig | None) -> None:
    """Serving beyond this machine needs a login in front of it."""
    if auth is None and not is_loopback(host):
        raise ConfigError(
            f"the dashboard serves only 127.0.0.1 unless [auth] is configured (asked: {host})",
            expected="--host 127.0.0.1, or an [auth] section with your OIDC provider",
            hint="see [auth] in the README: client_id, client_secret_env, server_metadata_url",
        )


def secrets_toml(auth: AuthConfig, host: str, port: int) -> str:
    """The `[auth]` table of Streamlit's secrets.toml (JSON strings are valid TOML strings)."""
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
    values = {
        "redirect_uri": auth.redirect_uri or f"http://{shown}:{port}/oauth2callback",
        # A fresh cookie secret per server start: sessions end when the server restarts.
        "cookie_secret": auth.cookie_secret or secrets.token_urlsafe(32),
        "client_id": auth.client_id,
        "client_secret": auth.client_secret,
        "server_metadata_url": auth.server_metadata_url,
    }
    return "[auth]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())


def write_secrets(auth: AuthConfig, host: str, port: int, folder: Path) -> Path:
    path = folder / "secrets.toml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secrets_toml(auth, host, port))
    return path
