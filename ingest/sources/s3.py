"""Billing exports on S3: list a prefix and stream its objects to a local folder.

Credentials come only from boto3's default chain (environment, shared config/credentials
files, `--profile`, container or instance roles); nothing is stored or logged. Objects are
downloaded to disk in chunks by boto3's transfer manager, never held whole in memory, and the
local layout mirrors the keys below the prefix so period folders and manifests keep working;
each copy's mtime is its object's LastModified.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from models.errors import InputError, SourceUnavailableError
from models.urls import refuse_credentials

CHAIN = (
    "boto3 default credential chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or "
    "--profile, ~/.aws/credentials and ~/.aws/config, container and instance roles"
)


@dataclass(frozen=True)
class Location:
    bucket: str
    prefix: str  # without leading slash; "" for the whole bucket

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass
class Download:
    """A prefix copied to `root`; `display` maps a local path back to its s3:// URI."""

    location: Location
    root: Path
    keys: dict[Path, str]
    target: Path | None = None  # what to read, when not the whole of `root`

    def display(self, path: Path) -> str:
        path = Path(path)
        if path in self.keys:
            return f"s3://{self.location.bucket}/{self.keys[path]}"
        with contextlib.suppress(ValueError):
            rel = path.relative_to(self.root).as_posix()
            prefix = self.location.prefix.rstrip("/")
            return f"s3://{self.location.bucket}/{prefix + '/' if prefix else ''}{rel}".rstrip("/.")
        return str(path)


def is_uri(text: str) -> bool:
    return text.startswith("s3://")


def parse(uri: str) -> Location:
    rest = uri.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise InputError(
            "S3 URI without a bucket", found=uri, expected="s3://bucket/prefix/to/export"
        )
    return Location(bucket, prefix.lstrip("/"))


def client(profile: str | None = None, endpoint_url: str | None = None):
    """An S3 client from the default credential chain (imported only when S3 is used)."""
    if endpoint_url:
        check_endpoint(endpoint_url)
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        session = boto3.Session(profile_name=profile) if profile else boto3.Session()
        return session.client("s3", endpoint_url=endpoint_url)
    except BotoCoreError as exc:
        raise SourceUnavailableError(
            f"cannot create an S3 client: {exc}", hint=f"credentials are taken from the {CHAIN}"
        ) from None


def check_endpoint(endpoint_url: str, what: str = "--endpoint-url") -> None:
    """Refuse an endpoint that carries credentials (it would be printed and stored)."""
    refuse_credentials(endpoint_url, what, f"credentials come from the {CHAIN}")


def _unavailable(exc: Exception, location: Location) -> SourceUnavailableError:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    retryable = isinstance(exc, EndpointConnectionError)
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        found = f"{code}: {exc.response.get('Error', {}).get('Message', '')}"
        retryable = code in ("SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout")
    elif isinstance(exc, NoCredentialsError):
        found = "no credentials"
    else:
        found = str(exc)
    return SourceUnavailableError(
        "S3 refused or failed the request",
        file=location.uri,
        found=found,
        hint=f"check the bucket, prefix and permissions; credentials come from the {CHAIN}",
        retryable=retryable,
    )


def list_objects(s3, location: Location) -> list[tuple[str, int, float]]:
    """(key, size, LastModified as a POSIX time) of every object under the prefix, by key."""
    from botocore.exceptions import BotoCoreError, ClientError

    prefix = location.prefix
    if prefix and not prefix.endswith("/"):
        # s3://b/path names a folder unless it is exactly one object.
        prefix_dir = prefix + "/"
    else:
        prefix_dir = prefix
    out: list[tuple[str, int, float]] = []
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=location.bucket, Prefix=location.prefix
        )
        for page in pages:
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key.endswith("/"):
                    continue
                if key == location.prefix or key.startswith(prefix_dir):
                    out.append((key, int(obj["Size"]), obj["LastModified"].timestamp()))
    except (BotoCoreError, ClientError) as exc:
        raise _unavailable(exc, location) from None
    return sorted(out)


def _export_period(prefix: str) -> tuple[str, str, str] | None:
    """(export prefix, "BILLING_PERIOD=...", the rest) when the prefix is inside one period of
    a Data Export (its data or metadata folder, or an object in them).

    A period's manifest and data sit in sibling folders, so both are fetched."""
    parts = [p for p in prefix.split("/") if p]
    for i in range(len(parts) - 1, 1, -1):
        if parts[i].startswith("BILLING_PERIOD=") and parts[i - 1] in ("data", "metadata"):
            return "/".join(parts[: i - 1]), parts[i], "/".join(parts[i - 1 :])
    return None


def _local_path(root: Path, rel: str, location: Location, key: str) -> Path:
    """Where an object's copy goes: inside `root`, or the object is refused."""
    parts = PurePosixPath(rel).parts
    if not parts or any(p in ("..", ".") for p in parts):
        raise InputError(
            "an S3 object name that cannot be copied safely",
            file=f"s3://{location.bucket}/{key}",
            expected="a key without '.' or '..' segments",
            found=key,
            hint="rename or remove the object; it would land outside the download folder",
        )
    return root.joinpath(*parts)


@contextlib.contextmanager
def download(
    uri: str, profile: str | None = None, endpoint_url: str | None = None
) -> Iterator[Download]:
    """Copy every object under `uri` into a temporary folder, removed on exit."""
    from botocore.exceptions import BotoCoreError, ClientError

    location = parse(uri)
    s3 = client(profile, endpoint_url)
    period = _export_period(location.prefix)
    if period is not None:
        export, name, _ = period
        location = Location(location.bucket, export)
        wanted = (f"{export}/data/{name}/", f"{export}/metadata/{name}/")
        objects = [o for o in list_objects(s3, location) if o[0].startswith(wanted)]
    else:
        objects = list_objects(s3, location)
    if not objects:
        raise InputError(
            "no objects under this S3 prefix",
            file=parse(uri).uri,
            expected="the export's data files (CSV, CSV.gz, Parquet) or manifest",
            found="nothing",
            hint="check the prefix: Data Exports write under <prefix>/<name>/data/",
        )
    base = location.prefix if any(k == location.prefix for k, _, _ in objects) else None
    with tempfile.TemporaryDirectory(prefix="finops-s3-") as tmp:
        root = Path(tmp)
        keys: dict[Path, str] = {}
        for key, _size, modified in objects:
            if base is not None:  # the URI named one object
                rel = PurePosixPath(key).name
            else:
                rel = key[len(location.prefix) :].lstrip("/")
            local = _local_path(root, rel, location, key)
            local.parent.mkdir(parents=True, exist_ok=True)
            try:
                s3.download_file(location.bucket, key, str(local))
            except (BotoCoreError, ClientError) as exc:
                raise _unavailable(exc, Location(location.bucket, key)) from None
            # The copy keeps the object's LastModified: which delivery is newest depends on it.
            os.utime(local, (modified, modified))
            keys[local] = key
        if period is not None:
            yield Download(location, root, keys, root.joinpath(*period[2].split("/")))
            return
        target = root / PurePosixPath(base).name if base is not None else root
        yield Download(Location(location.bucket, location.prefix), target, keys)
