"""Credentials and TLS for Prometheus-compatible query APIs.

Modes: `none`; `bearer` (Grafana Cloud tokens, Thanos/VictoriaMetrics behind a gateway);
`basic` (Grafana Cloud: instance id + API token; Mimir/Cortex gateways); `sigv4` (Amazon
Managed Service for Prometheus, signed by botocore for the service `aps`); `azure` (Azure
Monitor managed Prometheus, an Entra token for PROMETHEUS_SCOPE from DefaultAzureCredential).
Without a mode, the host decides: `aps-workspaces.<region>.amazonaws.com` is sigv4,
`*.prometheus.monitor.azure.com` is azure, anything else none.

Secrets come from environment variables or files named in `[sources.prometheus]`, or from the
SDKs' own chains; never from the URL (refused) and never into a message, the loads table or
a repr. Each auth object says where its credentials came from (`origin`), without them.
"""

from __future__ import annotations

import base64
import os
import re
import ssl
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from models.errors import ConfigError, InputError, SourceUnavailableError
from models.settings import PROMETHEUS_AUTH_MODES, PrometheusSourceSettings
from models.urls import refuse_credentials

PROMETHEUS_SCOPE = "https://prometheus.monitor.azure.com/.default"
USER_ENV = "FINOPS_PROMETHEUS_USER"
_AMP_HOST = re.compile(
    r"^aps-workspaces(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$"
)
_AZURE_SUFFIX = ".prometheus.monitor.azure.com"
WHERE_CREDENTIALS_GO = (
    "a bearer token goes in $FINOPS_PROMETHEUS_TOKEN, a password in $FINOPS_PROMETHEUS_PASSWORD "
    "with the user in $FINOPS_PROMETHEUS_USER or [sources.prometheus] user (finops.toml may "
    "name other variables or files: token_env, token_file, password_env, password_file); "
    "choose the mode with --auth bearer|basic|sigv4|azure"
)


class Auth(Protocol):
    """What the client needs from a credential: headers for one request, and words for errors."""

    mode: str
    origin: str  # where the credentials come from, e.g. "$FINOPS_PROMETHEUS_TOKEN"

    def headers(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> dict:
        """Headers to add to a request about to be sent (may sign all of it)."""
        ...

    def redact(self, text: str) -> str:
        """`text` without any secret this credential holds (for server answers we quote)."""
        ...


@dataclass(frozen=True)
class NoAuth:
    mode: str = "none"
    origin: str = "no credentials (--auth none)"

    def headers(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> dict:
        return {}

    def redact(self, text: str) -> str:
        return text


@dataclass(frozen=True)
class BearerAuth:
    token: str = field(repr=False)
    origin: str
    mode: str = "bearer"

    def headers(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def redact(self, text: str) -> str:
        return text.replace(self.token, "***")


@dataclass(frozen=True)
class BasicAuth:
    user: str
    password: str = field(repr=False)
    origin: str
    mode: str = "basic"

    def headers(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> dict:
        pair = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}

    def redact(self, text: str) -> str:
        pair = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return text.replace(self.password, "***").replace(pair, "***")


AWS_CHAIN = (
    "boto3's default credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or "
    "[sources.aws] profile, ~/.aws/credentials and ~/.aws/config, SSO, container and instance "
    "roles)"
)


@dataclass
class SigV4Auth:
    """Signs each request for the service `aps` with the chain's current credentials."""

    region: str
    profile: str | None = None
    origin: str = AWS_CHAIN
    mode: str = "sigv4"
    _credentials: Any = field(default=None, init=False, repr=False)
    _secrets: list[str] = field(default_factory=list, init=False, repr=False)

    def _frozen(self):
        from botocore.exceptions import BotoCoreError

        if self._credentials is None:
            import boto3

            try:
                session = boto3.session.Session(profile_name=self.profile)
                self._credentials = session.get_credentials()
            except BotoCoreError as exc:  # e.g. a profile that does not exist
                raise ConfigError(
                    f"cannot take AWS credentials for --auth sigv4: {exc}",
                    hint=f"credentials come from {AWS_CHAIN}",
                ) from None
            if self._credentials is None:
                raise SourceUnavailableError(
                    "no AWS credentials found to sign Prometheus queries (--auth sigv4)",
                    expected="credentials with aps:QueryMetrics on the workspace",
                    hint=f"credentials come from {AWS_CHAIN}",
                )
        frozen = self._credentials.get_frozen_credentials()  # refreshes expiring roles
        self._secrets[:] = [s for s in (frozen.secret_key, frozen.token) if s]
        return frozen

    def headers(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> dict:
        from botocore.auth import SigV4Auth as Signer
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        Signer(self._frozen(), "aps", self.region).add_auth(request)
        return {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("authorization", "x-amz-date", "x-amz-security-token")
        }

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


@dataclass
class AzureAuth:
    """An Entra token for Azure Monitor's Prometheus query API.

    `credential` is any azure-core TokenCredential (an object with `get_token(scope)`); by
    default azure-identity's DefaultAzureCredential. Library callers may pass their own (a
    ClientSecretCredential, a WorkloadIdentityCredential, ...).
    """

    credential: Any = None
    origin: str = field(default="")
    mode: str = "azure"
    _token: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.origin:
            from ingest.sources.azure_blob import CHAIN

            self.origin = CHAIN if self.credential is None else type(self.credential).__name__

    def _get(self) -> str:
        # refresh five minutes before expiry: a long paged read outlives a one-hour token
        if self._token is None or self._token.expires_on - 300 < time.time():
            from azure.core.exceptions import ClientAuthenticationError

            from ingest.sources.azure_blob import quiet_identity_log

            quiet_identity_log()
            try:
                if self.credential is None:
                    from azure.identity import DefaultAzureCredential

                    self.credential = DefaultAzureCredential()
                self._token = self.credential.get_token(PROMETHEUS_SCOPE)
            except ClientAuthenticationError as exc:  # CredentialUnavailableError is one too
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise SourceUnavailableError(
                    "no Entra token for Azure Monitor managed Prometheus (--auth azure)",
                    expected=f"a token for {PROMETHEUS_SCOPE}",
                    found=first[:300],
                    hint=f"credentials come from {self.origin}; sign in (az login) or give the "
                    "identity the Monitoring Data Reader role on the Azure Monitor workspace",
                ) from None
        return self._token.token

    def headers(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> dict:
        return {"Authorization": f"Bearer {self._get()}"}

    def redact(self, text: str) -> str:
        return text.replace(self._token.token, "***") if self._token else text


# ---- choosing a mode ------------------------------------------------------------------------


def infer_mode(url: str) -> str:
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if _AMP_HOST.match(host):
        return "sigv4"
    if host.endswith(_AZURE_SUFFIX):
        return "azure"
    return "none"


def region_of(url: str) -> str | None:
    match = _AMP_HOST.match((urllib.parse.urlsplit(url).hostname or "").lower())
    return match["region"] if match else None


def check_url(url: str) -> None:
    """Refuse a URL that carries credentials: they would land in the loads table and logs."""
    refuse_credentials(url, "Prometheus URL", WHERE_CREDENTIALS_GO)


def resolve(
    url: str,
    mode: str | None,
    settings: PrometheusSourceSettings,
    aws_profile: str | None = None,
    region: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Auth:
    """The credential for `url`: --auth, else [sources.prometheus] auth, else by host."""
    mode = mode or settings.auth or infer_mode(url)
    if mode not in PROMETHEUS_AUTH_MODES:
        raise InputError(
            "unknown --auth mode", expected=f"one of {', '.join(PROMETHEUS_AUTH_MODES)}", found=mode
        )
    if mode == "bearer":
        token, origin = _secret(settings.token_env, settings.token_file, "token_file", environ)
        if token is None:
            raise ConfigError(
                "--auth bearer needs a token, and none was found",
                expected=f"${settings.token_env}"
                + (f" or the file {settings.token_file}" if settings.token_file else ""),
                hint=f"export {settings.token_env}=<token> (or set [sources.prometheus] "
                "token_env or token_file in finops.toml)",
            )
        return BearerAuth(token, origin)
    if mode == "basic":
        user = environ.get(USER_ENV) or settings.user
        password, origin = _secret(
            settings.password_env, settings.password_file, "password_file", environ
        )
        if not user or password is None:
            missing = " and ".join(
                w for w, ok in (("a user", user), ("a password", password is not None)) if not ok
            )
            raise ConfigError(
                f"--auth basic needs {missing}, and none was found",
                expected=f"the user in ${USER_ENV} or [sources.prometheus] user, the password in "
                f"${settings.password_env}"
                + (f" or the file {settings.password_file}" if settings.password_file else ""),
                hint="Grafana Cloud: the user is the stack's Prometheus instance id and the "
                "password an access-policy token with metrics:read",
            )
        who = f"${USER_ENV}" if environ.get(USER_ENV) else "[sources.prometheus] user"
        return BasicAuth(user, password, f"the user in {who}, the password in {origin}")
    if mode == "sigv4":
        chosen = region or settings.region or region_of(url) or _default_region(aws_profile)
        if not chosen:
            raise ConfigError(
                "--auth sigv4 needs the workspace's region",
                expected="aps-workspaces.<region>.amazonaws.com in the URL, --region, "
                "[sources.prometheus] region or AWS_REGION",
            )
        origin = AWS_CHAIN + (f", profile {aws_profile!r}" if aws_profile else "")
        return SigV4Auth(chosen, aws_profile, origin)
    if mode == "azure":
        return AzureAuth()
    return NoAuth()


def _secret(
    env: str, file: str | None, key: str, environ: Mapping[str, str]
) -> tuple[str | None, str]:
    """(secret, where it came from): the environment variable first, then the file."""
    if environ.get(env):
        return environ[env], f"${env}"
    if file:
        path = Path(file).expanduser()
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read [sources.prometheus] {key}: {exc.strerror}",
                file=str(path),
                hint="check the path and its permissions",
            ) from None
        if not text:
            raise ConfigError(f"[sources.prometheus] {key} is empty", file=str(path))
        return text, f"the file {path} ([sources.prometheus] {key})"
    return None, f"${env}"


def _default_region(profile: str | None) -> str | None:
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.session.Session(profile_name=profile).region_name
    except BotoCoreError:  # a missing profile is reported when credentials are taken
        return None


# ---- TLS ------------------------------------------------------------------------------------


def tls_context(ca_bundle: str | Path | None) -> ssl.SSLContext | None:
    """Trust exactly the CAs in `ca_bundle` (PEM), as `curl --cacert` does; None: the system's."""
    if not ca_bundle:
        return None
    path = Path(ca_bundle).expanduser()
    if not path.is_file():
        raise InputError(
            "CA bundle not found",
            file=str(path),
            expected="a PEM file of the CA certificates that signed the server's certificate",
        )
    try:
        return ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, ValueError) as exc:
        raise InputError(
            f"not a PEM CA bundle: {exc}",
            file=str(path),
            expected="-----BEGIN CERTIFICATE----- blocks",
        ) from None
