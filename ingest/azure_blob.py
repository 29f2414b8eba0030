"""Cost Management exports in a storage-account container: `azblob://account/container/prefix`.

Listing and downloading are separate steps: `download` copies every export file (and each
run's manifest.json) under the prefix into a local folder, keeping the blob paths (so
`actual/` and `amortized/` folders and export runs are recognised), and the file reader takes
it from there. Credentials: a connection string
from the environment variable named in `[sources.azure] connection_string_env`, otherwise
azure-identity's DefaultAzureCredential. Neither is stored or logged.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from models.errors import InputError, SourceUnavailableError
from models.settings import AzureSourceSettings

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


def parse_uri(uri: str) -> BlobTarget:
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
        return BlobServiceClient.from_connection_string(conn), (
            f"the connection string in ${settings.connection_string_env}"
        )
    from azure.identity import DefaultAzureCredential

    url = settings.blob_endpoint or f"https://{target.account}.blob.core.windows.net"
    credential = DefaultAzureCredential()
    # Ask for a token first: inside the client a missing credential would be retried with
    # storage's long back-off before it is reported.
    credential.get_token(STORAGE_SCOPE)
    return BlobServiceClient(url, credential=credential), CHAIN


def download(target: BlobTarget, settings: AzureSourceSettings, dest: Path) -> list[Path]:
    """Copy the export files under the prefix into `dest`; returns the local paths."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
    )
    from azure.identity import CredentialUnavailableError

    quiet_identity_log()
    out: list[Path] = []
    tried = CHAIN
    try:
        service, tried = _client(target, settings)
        container = service.get_container_client(target.container)
        for blob in container.list_blobs(name_starts_with=target.prefix or None):
            if not f"/{blob.name.lower()}".endswith(EXPORT_SUFFIXES):
                continue
            rel = blob.name[len(target.prefix) :].lstrip("/") if target.prefix else blob.name
            path = inside(dest, rel or Path(blob.name).name, target)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as fh:
                container.download_blob(blob.name).readinto(fh)
            out.append(path)
    except (ClientAuthenticationError, CredentialUnavailableError) as exc:
        raise SourceUnavailableError(
            "the storage account refused the credentials, or none were found",
            file=target.uri,
            expected="a credential with the Storage Blob Data Reader role",
            found=_first_line(exc),
            hint=f"tried {tried}; sign in (az login), set a managed identity, or put a "
            f"connection string in ${settings.connection_string_env}",
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
            hint=f"credentials tried: {tried}",
            retryable=bool(exc.status_code and exc.status_code >= 500),
        ) from None
    if not out:
        raise InputError(
            "no export files (*.csv, *.csv.gz, *.parquet) under the prefix",
            file=target.uri,
            hint="check the prefix; Cost Management writes <directory>/<export name>/<dates>/",
        )
    return out


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
