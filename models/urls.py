"""Credentials in URLs: the one rule for finding them, hiding them and refusing them.

A URL can carry a secret in its user info (`http://user:password@host`) or in its query
(`?sig=...` of an Azure SAS, `X-Amz-Signature` of a presigned S3 URL, `token=...`). Such a
URL is never shown or stored as given: every message and record passes through `redact`.
"""

from __future__ import annotations

import re
import urllib.parse

# Query parameters whose value is (part of) a credential. Azure SAS parameters are all
# listed: together they make a reusable token even where `sig` alone would not.
SECRET_PARAMS = frozenset(
    {
        "token", "access_token", "id_token", "refresh_token", "auth", "authorization",
        "bearer", "password", "passwd", "pwd", "secret", "client_secret", "api_key",
        "apikey", "api-key", "key", "code", "signature",
        # Azure shared access signatures
        "sig", "se", "sp", "sv", "sr", "st", "ss", "srt", "spr", "si", "sdd", "skoid",
        "sktid", "skt", "ske", "sks", "skv", "saoid", "suoid", "scid",
        # AWS presigned URLs
        "x-amz-signature", "x-amz-credential", "x-amz-security-token",
    }
)  # fmt: skip
MASK = "***"
# a URL in running text ends before whitespace, quotes, or punctuation that closes a sentence
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>`]*[^\s'\"<>`.,;:)\]}]")
# Secrets that travel outside URLs in the same messages: Azure connection strings.
_CONNECTION_SECRET = re.compile(r"(?i)\b(AccountKey|SharedAccessSignature)=[^;\s'\"]+")


def _secret_param(piece: str) -> bool:
    name = urllib.parse.unquote_plus(piece.partition("=")[0]).strip().lower()
    return name in SECRET_PARAMS


def redact_url(url: str) -> str:
    """`url` with its user info and secret query values replaced by ***; else unchanged."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = _split_authority(rest)
    if "@" in authority:
        authority = MASK + "@" + authority.rpartition("@")[2]
    head, qmark, query = path.partition("?")
    if qmark:
        query, hash_, fragment = query.partition("#")
        pieces = [
            f"{p.partition('=')[0]}={MASK}" if _secret_param(p) else p for p in query.split("&")
        ]
        path = head + qmark + "&".join(pieces) + hash_ + fragment
    return scheme + sep + authority + slash + path


def _split_authority(rest: str) -> tuple[str, str, str]:
    """(authority, separator, the rest) of what follows `scheme://`."""
    for i, ch in enumerate(rest):
        if ch in "/?#":
            return rest[:i], "", rest[i:]
    return rest, "", ""


def redact(text: str) -> str:
    """`text` with every URL in it redacted, and connection-string keys masked."""
    if "://" in text:
        text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    return _CONNECTION_SECRET.sub(lambda m: f"{m.group(1)}={MASK}", text)


def credentials_in(url: str) -> list[str]:
    """What in `url` carries a credential, in words (empty when nothing does)."""
    _, sep, rest = url.partition("://")
    authority, _, path = _split_authority(rest if sep else url)
    carried = []
    if sep and "@" in authority:
        carried.append("a user or password before the host")
    query = path.partition("?")[2].partition("#")[0]
    names = sorted(
        {
            urllib.parse.unquote_plus(p.partition("=")[0]).strip().lower()
            for p in query.split("&")
            if p and _secret_param(p)
        }
    )
    if names:
        plural = "s" if len(names) > 1 else ""
        carried.append(f"the query parameter{plural} " + ", ".join(repr(n) for n in names))
    return carried


def refuse_credentials(url: str, what: str, where_they_go: str) -> None:
    """Raise one InputError when `url` (given as `what`) carries credentials: they would be
    printed and stored with it. `where_they_go` says where the credentials belong instead."""
    from models.errors import InputError  # errors render through `redact`: import it late

    carried = credentials_in(url)
    if carried:
        raise InputError(
            f"credentials in the {what} are refused",
            file=redact_url(url),
            expected="a URL without credentials",
            found=" and ".join(carried),
            hint=f"remove them from the URL; {where_they_go}",
        )
