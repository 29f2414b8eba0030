"""Where the warehouse lives: a local folder, or a prefix on object storage (DESIGN §5).

`s3://bucket/prefix` is written and read by deltalake's own object store and by pyarrow's
S3 file system (DuckDB's httpfs is never loaded: extensions are not fetched at run time).
`az://`, `abfss://` and `gs://` locations are handed to deltalake and pyarrow the same way.

The endpoint comes from `AWS_ENDPOINT_URL` (set by `finops --endpoint-url` too); plain http is
allowed only for such an explicit endpoint (a local test server). Credentials come only from
the provider's default chain (environment, profile files, SSO, instance roles), never from the
location itself: a URL with `user:password@` is refused, and a location prints as its bucket
and prefix, so it can appear in any message.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from models.errors import ConfigError, WarehouseError
from models.urls import redact_url

# scheme as given -> the scheme deltalake and pyarrow know it by
SCHEMES = {
    "s3": "s3",
    "s3a": "s3",
    "az": "az",
    "abfs": "abfss",
    "abfss": "abfss",
    "gs": "gs",
    "gcs": "gs",
}
ENDPOINT_VARS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def is_remote(text: str | os.PathLike[str] | ObjectPath) -> bool:
    """Whether `text` names object storage rather than a local folder."""
    if isinstance(text, ObjectPath):
        return True
    scheme, sep, _ = str(text).partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


class ObjectPath:
    """A folder on object storage, with the few `Path` methods the warehouse code uses.

    Object stores have no folders: `mkdir` does nothing, and a prefix "exists" when some
    object is stored under it."""

    def __init__(self, uri: str):
        parts = urlsplit(uri)
        scheme = SCHEMES.get(parts.scheme.lower())
        if scheme is None:
            raise ConfigError(
                "the warehouse location's scheme is not one finops can store tables on",
                file=redact_url(uri),
                expected="a local folder, s3://bucket/prefix, az://container/prefix, "
                "abfss://container@account.dfs.core.windows.net/prefix or gs://bucket/prefix",
            )
        netloc = parts.netloc
        userinfo = netloc.rpartition("@")[0] if "@" in netloc else ""
        if userinfo and (scheme != "abfss" or ":" in userinfo):
            raise ConfigError(
                "the warehouse location carries credentials; finops never takes them from a URL",
                file=redact_url(uri),
                hint="remove user:password@ and give credentials through the provider's default "
                "chain (environment variables, a profile, an instance role)",
            )
        if parts.query or parts.fragment:
            raise ConfigError(
                "the warehouse location has a query or fragment, which object storage paths "
                "cannot hold",
                file=redact_url(uri),
                expected=f"{scheme}://bucket/prefix",
            )
        if not netloc:
            raise ConfigError(
                "the warehouse location names no bucket",
                file=redact_url(uri),
                expected=f"{scheme}://bucket/prefix",
            )
        segments = [p for p in parts.path.split("/") if p]
        if any(p in (".", "..") for p in segments):
            # an object store takes "." and ".." literally: the tables would land elsewhere
            # than the same words name on a disk
            raise ConfigError(
                "the warehouse location's path has a '.' or '..' part",
                file=redact_url(uri),
                expected=f"{scheme}://bucket/prefix with plain names",
            )
        self.scheme = scheme
        self.bucket = netloc
        self.key = "/".join(segments)

    # ---- the Path-like part ----------------------------------------------------------------

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}" + (f"/{self.key}" if self.key else "")

    def __repr__(self) -> str:
        return f"ObjectPath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectPath) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __truediv__(self, other: str | os.PathLike[str]) -> ObjectPath:
        rel = "/".join(p for p in str(other).split("/") if p)
        return ObjectPath(f"{self}/{rel}" if rel else str(self))

    @property
    def name(self) -> str:
        return self.key.rpartition("/")[2]

    @property
    def parent(self) -> ObjectPath:
        return ObjectPath(f"{self.scheme}://{self.bucket}/{self.key.rpartition('/')[0]}")

    def absolute(self) -> ObjectPath:
        return self

    resolve = absolute

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to make: a prefix comes into being with its first object."""

    def exists(self) -> bool:
        from pyarrow import fs

        fs_, path = self.filesystem()
        try:
            return fs_.get_file_info(path).type != fs.FileType.NotFound
        except OSError as exc:  # unreachable endpoint, refused credentials, no such host
            raise WarehouseError(
                f"{self}: the object store cannot be reached ({str(exc).splitlines()[0][:300]})",
                hint="check the endpoint (`finops --endpoint-url` or AWS_ENDPOINT_URL), the "
                "network and the credentials of the provider's default chain",
            ) from None

    is_dir = exists

    # ---- what the libraries need ------------------------------------------------------------

    def storage_options(self) -> dict[str, str]:
        """deltalake's storage_options for this location (credentials resolved now)."""
        return storage_options(self.scheme)

    def filesystem(self) -> tuple[Any, str]:
        """A pyarrow file system and this location's path on it."""
        return filesystem(self.scheme), f"{self.bucket}/{self.key}".rstrip("/")


Location = Path | ObjectPath


def parse(text: str | os.PathLike[str] | ObjectPath) -> Location:
    """A warehouse location as given on the command line, in finops.toml or the environment."""
    if isinstance(text, ObjectPath):
        return text
    if is_remote(text):
        return ObjectPath(str(text))
    scheme, sep, _ = str(text).partition("://")
    if sep and scheme.lower() not in ("file",) and len(scheme) > 1:
        ObjectPath(str(text))  # raises: a scheme finops cannot store tables on
    return Path(text)


def endpoint_url() -> str | None:
    for var in ENDPOINT_VARS:
        if os.environ.get(var):
            url = os.environ[var]
            parts = urlsplit(url)
            if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
                raise ConfigError(
                    f"the object store endpoint ({var}) is not an http(s) URL",
                    file=redact_url(url),
                    expected="http(s)://host[:port], e.g. https://s3.eu-west-1.amazonaws.com",
                )
            return url
    return None


def _aws_credentials() -> tuple[str | None, str | None, str | None, str | None]:
    """(key id, secret, session token, region) from boto3's default chain, which reads the
    environment, AWS_PROFILE and the shared files, SSO and container or instance roles."""
    import boto3

    session = boto3.Session()
    creds = session.get_credentials()
    region = session.region_name or os.environ.get("AWS_REGION") or "us-east-1"
    if creds is None:
        return None, None, None, region
    frozen = creds.get_frozen_credentials()
    return frozen.access_key, frozen.secret_key, frozen.token, region


def storage_options(scheme: str) -> dict[str, str]:
    """deltalake's options for `scheme`; its defaults (the environment) for all but S3."""
    if scheme != "s3":
        return {}
    key, secret, token, region = _aws_credentials()
    options = {"AWS_REGION": region or "us-east-1"}
    if key and secret:
        options |= {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    if token:
        options["AWS_SESSION_TOKEN"] = token
    endpoint = endpoint_url()
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.lower().startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    return options


_FILESYSTEMS: dict[tuple, Any] = {}
_LOCK = threading.Lock()


def filesystem(scheme: str) -> Any:
    """A pyarrow file system for `scheme`, one per endpoint and identity in this process."""
    from pyarrow import fs

    if scheme != "s3":
        with _LOCK:
            if (scheme,) not in _FILESYSTEMS:
                _FILESYSTEMS[(scheme,)] = fs.FileSystem.from_uri(f"{scheme}://x")[0]
            return _FILESYSTEMS[(scheme,)]
    key, secret, token, region = _aws_credentials()
    endpoint = endpoint_url()
    ident = (scheme, endpoint, key, hashlib.sha256(f"{secret}{token}".encode()).hexdigest())
    with _LOCK:
        if ident not in _FILESYSTEMS:
            kwargs: dict[str, Any] = {"region": region}
            if key and secret:
                kwargs |= {"access_key": key, "secret_key": secret, "session_token": token}
            if endpoint:
                parts = urlsplit(endpoint)
                kwargs |= {"endpoint_override": parts.netloc, "scheme": parts.scheme or "https"}
            _FILESYSTEMS[ident] = fs.S3FileSystem(**kwargs)
        return _FILESYSTEMS[ident]


def delta_options(path: str | os.PathLike[str] | ObjectPath) -> dict[str, str] | None:
    """storage_options for a Delta table at `path` (None for a local one)."""
    if not is_remote(path):
        return None
    return storage_options(SCHEMES[str(path).partition("://")[0].lower()])


# ---- data files: a read-through cache, and uploads -----------------------------------------


def cache_dir() -> Path:
    """Where remote data files are kept once read: `FINOPS_CACHE_DIR`, else the user's cache.
    Delta never rewrites a data file in place, so a file's copy stays true for good."""
    if os.environ.get("FINOPS_CACHE_DIR"):
        return Path(os.environ["FINOPS_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "finops" / "objects"


def fetch(uri: str) -> str:
    """A local copy of the remote data file `uri` (percent-encoded as deltalake names it),
    downloaded on first use; DuckDB and polars then read it as any local file."""
    scheme, _, rest = uri.partition("://")
    scheme = SCHEMES[scheme.lower()]
    target = cache_dir() / hashlib.sha256(f"{scheme}://{rest}".encode()).hexdigest()
    target = target.with_suffix(".parquet")
    if target.exists():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    from pyarrow import fs

    fs.copy_files(unquote(rest), str(partial), source_filesystem=filesystem(scheme),
                  destination_filesystem=fs.LocalFileSystem())  # fmt: skip
    os.replace(partial, target)  # atomic: a concurrent reader sees the whole file or none
    return str(target)


def put(local: Path, target: ObjectPath) -> int:
    """Upload the local file to `target` and remove the local one; returns its size."""
    from pyarrow import fs

    size = local.stat().st_size
    remote, path = target.filesystem()
    fs.copy_files(str(local), path, source_filesystem=fs.LocalFileSystem(),
                  destination_filesystem=remote)  # fmt: skip
    local.unlink()
    return size


def staging_root(where: ObjectPath) -> Path:
    """A local folder where a writer to `where` stages its files before they are uploaded."""
    digest = hashlib.sha256(str(where).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"finops-staging-{digest}"


def open_delta(path: str | os.PathLike[str] | ObjectPath, version: int | None = None) -> Any:
    """The Delta table at `path` (local or remote) at its current or given version."""
    from deltalake import DeltaTable

    return DeltaTable(str(path), version=version, storage_options=delta_options(path))
