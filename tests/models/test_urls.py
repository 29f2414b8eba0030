"""The one rule for credentials in URLs: what is masked, what is refused, what stays."""

from __future__ import annotations

import pytest

from models.errors import InputError, SourceUnavailableError
from models.urls import credentials_in, redact, redact_url, refuse_credentials


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://minio:Sup3rPassw0rd@127.0.0.1:9000", "http://***@127.0.0.1:9000"),
        ("https://user@host/path", "https://***@host/path"),
        ("azblob://acme/exports/cost?sv=2022-11-02&se=2030-01-01&sp=rl&sig=AbC%2Bd%3D",
         "azblob://acme/exports/cost?sv=***&se=***&sp=***&sig=***"),
        ("https://b.s3.amazonaws.com/k.csv?X-Amz-Credential=AKIAX%2F20260101&X-Amz-Date=1"
         "&X-Amz-Security-Token=FwoG&X-Amz-Signature=9f0e",
         "https://b.s3.amazonaws.com/k.csv?X-Amz-Credential=***&X-Amz-Date=1"
         "&X-Amz-Security-Token=***&X-Amz-Signature=***"),
        ("https://api.example.com/cb?code=4%2F0Ad&state=x#top",
         "https://api.example.com/cb?code=***&state=x#top"),
        ("https://vm.example.net/select?access_token=t0k&query=up",
         "https://vm.example.net/select?access_token=***&query=up"),
        # nothing secret: the text is left exactly as it was (encoding included)
        ("s3://billing/exports/acme-cur2/data/BILLING_PERIOD=2026-10/",
         "s3://billing/exports/acme-cur2/data/BILLING_PERIOD=2026-10/"),
        ("https://host/q?query=sum%20by%20(x)&step=3600", "https://host/q?query=sum%20by%20(x)&step=3600"),
    ],
)  # fmt: skip
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact(f"cannot read {url}: timed out") == f"cannot read {shown}: timed out"


def test_redact_masks_every_url_in_a_text_and_connection_string_keys() -> None:
    text = (
        "tried http://u:pw1@a.example/x and 'azblob://acct/c/p?sig=s1g' with "
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=k3y==;"
        "SharedAccessSignature=sv=2022&sig=s2g"
    )
    out = redact(text)
    for secret in ("pw1", "s1g", "k3y", "s2g"):
        assert secret not in out
    assert "http://***@a.example/x" in out and "AccountName=acct" in out
    assert "azblob://acct/c/p?sig=***'" in out


def test_credentials_in_names_what_carries_them() -> None:
    assert credentials_in("http://u:p@h") == ["a user or password before the host"]
    assert credentials_in("azblob://a/c?sig=x&sv=1") == ["the query parameters 'sig', 'sv'"]
    assert credentials_in("https://h/p?Token=x") == ["the query parameter 'token'"]
    assert credentials_in("https://h/p?query=up&step=60") == []
    assert credentials_in("/data/exports/user@host/cur.csv") == []  # a path, not a URL


def test_refusal_is_one_input_error_without_the_secret() -> None:
    with pytest.raises(InputError) as caught:
        refuse_credentials("http://minio:Sup3r@h:9000", "--endpoint-url", "use AWS_PROFILE")
    text = caught.value.render()
    assert text == (
        "http://***@h:9000: credentials in the --endpoint-url are refused — expected a URL "
        "without credentials, found a user or password before the host — remove them from "
        "the URL; use AWS_PROFILE"
    )
    refuse_credentials("http://127.0.0.1:9000", "--endpoint-url", "")  # nothing to refuse


def test_every_error_message_is_redacted() -> None:
    error = SourceUnavailableError(
        "cannot reach https://acct.blob.core.windows.net/c?sv=1&sig=S3CRET",
        file="azblob://acct/c?sig=S3CRET",
        found="http://u:pw@h",
    )
    assert "S3CRET" not in error.render() and "pw" not in error.render()
    assert "S3CRET" not in str(error)
