"""Cost Management exports in a storage-account container: `azblob://account/container/prefix`.

Listing and downloading are separate steps: `Container.listing` names the export files (and
each run's manifest.json) under the prefix with their sizes, `Container.fetch` copies the ones
a reader needs into a local folder, keeping the blob paths (so `actual/` and `amortized/`
folders and export runs are recognised); for export runs only the manifests and the chosen
runs' files are fetched (ingest/sources/azure_delivery.py). Credentials: a connection string
from the environment variable named in `[sources.azure] connection_string_env`, otherwise
azure-identity's DefaultAzureCredential. Neither is stored or logged.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from models.errors import ConfigError, InputError, SourceUnavailableError
from models.settings import AzureSourceSettings
from models.urls import refuse_credentials

STORAGE_SCOPE = "https://storage.azure.com/.default"
EXPORT_SUFFIXES = (".csv", ".csv.gz", ".gz", ".parquet", "/manifest.json")
CHAIN = (
    "DefaultAzureCredential (environment variables, workload identity, managed identity, "
    "Azure CLI, Azure PowerShell, Azure Developer CLI)"
)
_URI = re.compile(
    r"^azblob://(?P<account>[a-z0-9]{3,24})/(?P<container>[a-z0-9-]{3,63})(?:/(?P<prefix>.*))?$"
)


@dataclass(frozen=True)
class BlobTarget:
    account: str
    container: str
    prefix: str

    @property
    def uri(self) -> str:
        return f"azblob://{self.account}/{self.container}/{self.prefix}".rstrip("/")


def where_credentials_go(settings: AzureSourceSettings) -> str:
    return (
        f"credentials come from a connection string in ${settings.connection_string_env}, "
        f"otherwise {CHAIN}; a SAS token goes in that connection string "
        "(SharedAccessSignature=...)"
    )


def parse_uri(uri: str, settings: AzureSourceSettings | None = None) -> BlobTarget:
    """The container and prefix of `uri`; a SAS token or user info in it is refused."""
    refuse_credentials(
        uri, "azblob:// address", where_credentials_go(settings or AzureSourceSettings())
    )
    match = _URI.match(uri)
    if not match:
        raise InputError(
            "not a storage container address",
            file=uri,
            expected="azblob://<account>/<container>[/<prefix>] (lower-case account and container)",
            found=uri,
        )
    return BlobTarget(match["account"], match["container"], match["prefix"] or "")


def _client(target: BlobTarget, settings: AzureSourceSettings):
    from azure.storage.blob import BlobServiceClient

    conn = os.environ.get(settings.connection_string_env)
    if conn:
        check_connection_string(conn, settings.connection_string_env)
        try:
            service = BlobServiceClient.from_connection_string(conn)
        except ValueError as exc:  # the SDK's words name no value of the string
            raise _malformed(conn, settings.connection_string_env, str(exc)) from None
        return service, f"the connection string in ${settings.connection_string_env}"
    from azure.identity import DefaultAzureCredential

    if settings.blob_endpoint:
        refuse_credentials(
            settings.blob_endpoint, "[sources.azure] blob_endpoint", where_credentials_go(settings)
        )
    url = settings.blob_endpoint or f"https://{target.account}.blob.core.windows.net"
    credential = DefaultAzureCredential()
    # Ask for a token first: inside the client a missing credential would be retried with
    # storage's long back-off before it is reported.
    credential.get_token(STORAGE_SCOPE)
    return BlobServiceClient(url, credential=credential), CHAIN


_KEY = re.compile(r"^[A-Za-z]+$")
_KEYS = {
    "DefaultEndpointsProtocol", "AccountName", "AccountKey", "EndpointSuffix",
    "SharedAccessSignature", "BlobEndpoint", "QueueEndpoint", "TableEndpoint", "FileEndpoint",
    "BlobSecondaryEndpoint", "QueueSecondaryEndpoint", "TableSecondaryEndpoint",
    "FileSecondaryEndpoint", "UseDevelopmentStorage", "DevelopmentStorageProxyUri",
}  # fmt: skip


def check_connection_string(conn: str, env: str) -> None:
    """A storage connection string is `Key=value;...` with a base64 AccountKey if it has one;
    anything else is refused before the SDK sees it. Messages name keys, never values."""
    pairs = [p.partition("=") for p in conn.strip().strip(";").split(";")]
    if not conn.strip() or any(not _KEY.match(key.strip()) or not eq for key, eq, _ in pairs):
        raise _malformed(conn, env, "a part without Key=value")
    for key, _, value in pairs:
        if key.strip().lower() == "accountkey":
            try:
                base64.b64decode(value.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise _malformed(conn, env, "an AccountKey that is not base64") from None


def _malformed(conn: str, env: str, problem: str) -> ConfigError:
    # Only the names Azure defines are shown: anything else may be a key or token pasted
    # alone (a base64 key ends in "=", so it looks like "Key=").
    parts = [p.partition("=") for p in conn.strip().strip(";").split(";")]
    keys = [key.strip() for key, eq, _ in parts if eq and key.strip() in _KEYS]
    others = len(parts) - len(keys)
    named = f"keys {', '.join(keys)}" if keys else "no Key=value pair"
    named += f" and {others} other part{'s' if others != 1 else ''}" if keys and others else ""
    return ConfigError(
        f"the storage connection string in ${env} is malformed",
        expected="Key=value pairs separated by ';' (DefaultEndpointsProtocol, AccountName, "
        "AccountKey in base64, or BlobEndpoint with SharedAccessSignature)",
        found=f"{problem.rstrip('.')}; {named} (values not shown)",
        hint="copy the connection string again from the storage account's Access keys or "
        "Shared access signature page",
    )


class Container:
    """One export prefix in a storage container: list it, then fetch the blobs a reader needs.

    The client (and the credential check) is made once, on first use; every SDK error is
    turned into one SourceUnavailableError naming the container and the credentials tried.
    """

    def __init__(self, target: BlobTarget, settings: AzureSourceSettings) -> None:
        self.target, self.settings = target, settings
        self._box = None
        self._tried = CHAIN

    def listing(self) -> dict[str, int]:
        """Export files (and run manifests) below the prefix: relative name -> size in bytes."""
        out: dict[str, int] = {}
        with self._errors():
            for blob in self._container().list_blobs(name_starts_with=self.target.prefix or None):
                if not f"/{blob.name.lower()}".endswith(EXPORT_SUFFIXES):
                    continue
                out[self._relative(blob.name)] = int(blob.size or 0)
        return out

    def fetch(self, names: list[str], dest: Path) -> list[Path]:
        """Copy the named blobs (relative to the prefix) into `dest`, keeping their paths."""
        out = []
        with self._errors():
            box = self._container()
            for rel in names:
                path = inside(dest, rel, self.target)
                path.parent.mkdir(parents=True, exist_ok=True)
                name = f"{self.target.prefix.rstrip('/')}/{rel}" if self.target.prefix else rel
                with path.open("wb") as fh:
                    box.download_blob(name).readinto(fh)
                out.append(path)
        return out

    def _relative(self, name: str) -> str:
        prefix = self.target.prefix
        rel = name[len(prefix) :].lstrip("/") if prefix else name
        return rel or Path(name).name

    def _container(self):
        if self._box is None:
            service, self._tried = _client(self.target, self.settings)
            self._box = service.get_container_client(self.target.container)
        return self._box

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
        )
        from azure.identity import CredentialUnavailableError

        quiet_identity_log()
        target, settings = self.target, self.settings
        try:
            yield
        except (ClientAuthenticationError, CredentialUnavailableError) as exc:
            raise SourceUnavailableError(
                "the storage account refused the credentials, or none were found",
                file=target.uri,
                expected="a credential with the Storage Blob Data Reader role",
                found=_first_line(exc),
                hint=f"tried {self._tried}; sign in (az login), set a managed identity, or put "
                f"a connection string in ${settings.connection_string_env}",
            ) from None
        except ResourceNotFoundError:
            raise SourceUnavailableError(
                f"container {target.container!r} not found in account {target.account!r}",
                file=target.uri,
                hint="check the export's destination container",
            ) from None
        except ServiceRequestError as exc:
            raise SourceUnavailableError(
                f"cannot reach the storage account: {_first_line(exc)}",
                file=target.uri,
                hint="check the account name and the network; retrying may help",
                retryable=True,
            ) from None
        except HttpResponseError as exc:
            raise SourceUnavailableError(
                f"the storage account answered {exc.status_code}: {_first_line(exc)}",
                file=target.uri,
                hint=f"credentials tried: {self._tried}",
                retryable=bool(exc.status_code and exc.status_code >= 500),
            ) from None


def no_exports(target: BlobTarget) -> InputError:
    return InputError(
        "no export files (*.csv, *.csv.gz, *.parquet) under the prefix",
        file=target.uri,
        hint="check the prefix; Cost Management writes <directory>/<export name>/<dates>/",
    )


def inside(dest: Path, rel: str, target: BlobTarget) -> Path:
    """The local path of a blob, which must stay inside the download folder."""
    path = (dest / rel).resolve()
    if not path.is_relative_to(dest.resolve()) or path == dest.resolve():
        raise InputError(
            "a blob name points outside the export folder",
            file=target.uri,
            expected="blob names below the prefix",
            found=repr(rel),
            hint="check the container's contents; such a name is never downloaded",
        )
    return path


def quiet_identity_log() -> None:
    """azure-identity logs each failed credential as a warning; the error says it once."""
    logging.getLogger("azure.identity").setLevel(logging.ERROR)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
