"""Managed Prometheus: the same telemetry through a real Prometheus behind the gates of the
services GPU fleets report to (bearer, basic, SigV4, Entra tokens, a tenant header, TLS with
a private CA). Each mode must give the direct read's GPU-hours; wrong credentials one clear
error naming the mode and where its credentials come from, and never the secret."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from dashboard.cli.finops import main
from ingest.sources import prometheus as prom
from ingest.sources import prometheus_auth as pauth
from ingest.warehouse.connection import connect, versions
from models.settings import PrometheusSourceSettings
from tests.fixtures.prometheus_metrics import HOURS, T0, check_matches_expected, gpu_rows
from tests.fixtures.prometheus_metrics import openmetrics_text as telemetry_text
from tests.servers import auth_proxy as gate
from tests.servers import prometheus as server
from tests.servers.tls import make_tls

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not server.available(), reason="prometheus not installed"),
]

RANGE = ("--start", "2026-10-05T00:00:00Z", "--end", "2026-10-05T04:00:00Z")
TOKEN = "glc_eyJvIjoiMTIzNDU2IiwibiI6InJlYWQifQ-bearer-7f3a"
PASSWORD = "glc_pw-4c1e9b-basic-secret"
AWS_KEY, AWS_SECRET, AWS_SESSION = "AKIAFINOPSTEST00001", "aws-secret/9Qx+Kd7", "aws-session-Zt8"
AZURE_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.entra-token-5d2c"
MI_HEADER = "identity-header-8e1f"


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with server.serve(telemetry_text(), tmp_path_factory.mktemp("prom")) as url:
        yield url


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credential of the machine running the tests may take part."""
    import os

    for name in list(os.environ):
        if name.startswith(("FINOPS_", "AWS_", "AZURE_", "IDENTITY_", "MSI_", "IMDS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.chdir(tmp_path)  # no finops.toml of the checkout


@dataclass
class Mode:
    """How one service is reached: CLI arguments, the gate's check, and the secrets used."""

    args: list[str]
    check: gate.Check
    secrets: list[str]
    origin: str  # words the refusal must use to say where credentials come from
    refusal: str = ""  # the gate's words when the credentials are wrong


@contextlib.contextmanager
def mode(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, wrong: bool = False
) -> Iterator[Mode]:
    """Credentials for `name` set up the way a user would; `wrong` gives the client bad ones."""
    if name == "bearer":  # Grafana Cloud / Mimir behind a gateway, with a tenant
        given = "glc_wrong-token-1d0" if wrong else TOKEN
        monkeypatch.setenv("FINOPS_PROMETHEUS_TOKEN", given)
        yield Mode(
            ["--auth", "bearer", "--org-id", "gpu-fleet"],
            gate.all_of(gate.bearer(TOKEN), gate.tenant("gpu-fleet")),
            [TOKEN, given],
            "$FINOPS_PROMETHEUS_TOKEN",
            "authentication error: invalid token",
        )
    elif name == "basic":  # Grafana Cloud: instance id + token, chosen in ./finops.toml
        given = "glc_wrong-pw-77a" if wrong else PASSWORD
        config = tmp_path / "finops.toml"
        config.write_text('[sources.prometheus]\nauth = "basic"\nuser = "123456"\n')
        monkeypatch.setenv("FINOPS_PROMETHEUS_PASSWORD", given)
        yield Mode(
            [],
            gate.basic("123456", PASSWORD),
            [PASSWORD, given],
            "$FINOPS_PROMETHEUS_PASSWORD",
            "invalid username or password",
        )
    elif name == "sigv4":  # Amazon Managed Service for Prometheus
        given = "aws-wrong-secret/1" if wrong else AWS_SECRET
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", given)
        monkeypatch.setenv("AWS_SESSION_TOKEN", AWS_SESSION)
        yield Mode(
            ["--auth", "sigv4", "--region", "eu-west-1"],
            gate.sigv4(AWS_KEY, AWS_SECRET, "eu-west-1", AWS_SESSION),
            [AWS_SECRET, given, AWS_SESSION],
            "boto3's default credential chain",
            "signature we calculated does not match",
        )
    elif name == "azure":  # Azure Monitor managed Prometheus, via a managed identity
        given = "eyJ-wrong-entra-token-3b" if wrong else AZURE_TOKEN
        with gate.managed_identity(given, MI_HEADER) as (endpoint, resources):
            monkeypatch.setenv("IDENTITY_ENDPOINT", endpoint)
            monkeypatch.setenv("IDENTITY_HEADER", MI_HEADER)
            monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential")
            yield Mode(
                ["--auth", "azure"],
                gate.bearer(AZURE_TOKEN),
                [AZURE_TOKEN, given, MI_HEADER],
                "DefaultAzureCredential",
                "authentication error: invalid token",
            )
            assert resources and set(resources) == {"https://prometheus.monitor.azure.com"}
    else:
        raise AssertionError(name)


def run(warehouse: Path, url: str, *args: str) -> int:
    return main(["--warehouse", str(warehouse), "ingest", "telemetry", "prometheus", url,
                 *RANGE, *args])  # fmt: skip


def stored_text(warehouse: Path) -> str:
    """Everything the loads and load_errors tables hold, as text."""
    if not warehouse.exists():
        return ""
    db = connect(warehouse)
    out = []
    for table in ("loads", "load_errors"):
        with contextlib.suppress(Exception):  # a table not written yet
            out.append(str(db.execute(f"select * from {table}").fetchall()))
    return "\n".join(out)


MODES = ["bearer", "basic", "sigv4", "azure"]


@pytest.mark.parametrize("name", MODES)
def test_each_mode_reads_the_same_gpu_hours_through_the_gate(
    name: str, prometheus_url: str, warehouse: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    with (
        mode(name, monkeypatch, tmp_path) as m,
        gate.auth_proxy(prometheus_url, m.check) as (url, seen),
    ):
        code = run(warehouse, url, *m.args)
    out, err = capsys.readouterr()
    assert code == 0, err
    check_matches_expected(gpu_rows(warehouse))
    assert {status for status, _ in seen} == {200}
    assert len(seen) == len(prom.QUERY_SETS["dcgm"])  # one page, every query let through
    everything = out + err + stored_text(warehouse)
    assert url in stored_text(warehouse)  # the load names the server it read ...
    assert not [s for s in m.secrets if s in everything]  # ... and none of its secrets


@pytest.mark.parametrize("name", MODES)
def test_wrong_credentials_are_one_clear_error_and_store_nothing(
    name: str, prometheus_url: str, warehouse: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    with (
        mode(name, monkeypatch, tmp_path, wrong=True) as m,
        gate.auth_proxy(prometheus_url, m.check) as (url, seen),
    ):
        code = run(warehouse, url, *m.args)
    out, err = capsys.readouterr()
    assert code == 5
    assert len(seen) == 1  # refused once, not retried
    assert "Prometheus refused the credentials" in err
    assert f"HTTP {seen[0][0]}, --auth {name}" in err
    assert m.origin in err and m.refusal in err  # our words, and the server's
    assert err.count("\n") == 1  # one message
    assert versions(warehouse)["gpu_util"] is None
    errors = connect(warehouse).execute("select message from load_errors").fetchall()
    assert len(errors) == 1 and "refused the credentials" in errors[0][0]
    everything = out + err + stored_text(warehouse)
    assert not [s for s in m.secrets if s in everything]


@pytest.mark.parametrize(
    ("name", "env", "message", "chain"),
    [
        ("sigv4", {}, "no AWS credentials found to sign Prometheus queries (--auth sigv4)",
         "boto3's default credential chain"),
        ("azure", {"AZURE_TOKEN_CREDENTIALS": "EnvironmentCredential"},
         "no Entra token for Azure Monitor managed Prometheus (--auth azure)",
         "DefaultAzureCredential"),
    ],
)  # fmt: skip
def test_no_credentials_in_the_chain_is_said_before_anything_is_sent(
    name: str, env: dict, message: str, chain: str, prometheus_url: str, warehouse: Path,
    monkeypatch, capsys,
) -> None:  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with gate.auth_proxy(prometheus_url, gate.bearer(TOKEN)) as (url, seen):
        code = run(warehouse, url, "--auth", name, "--region", "eu-west-1")
    err = capsys.readouterr().err
    assert code == 5 and message in err and chain in err
    assert f"{url}/api/v1/query_range: " in err  # which server wanted them
    assert seen == []
    assert versions(warehouse)["gpu_util"] is None


def test_a_server_that_wants_credentials_says_where_they_go(
    prometheus_url: str, warehouse: Path, capsys
) -> None:
    with gate.auth_proxy(prometheus_url, gate.bearer(TOKEN)) as (url, _):
        code = run(warehouse, url)
    err = capsys.readouterr().err
    assert code == 5
    assert "refused the credentials (HTTP 401, --auth none)" in err
    assert "authentication error: invalid token" in err  # the server's own words
    assert "$FINOPS_PROMETHEUS_TOKEN" in err and "--auth bearer|basic|sigv4|azure" in err


def test_a_private_ca_is_trusted_through_ca_bundle(
    prometheus_url: str, warehouse: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    tls = make_tls(tmp_path / "tls")
    monkeypatch.setenv("FINOPS_PROMETHEUS_TOKEN", TOKEN)
    with gate.auth_proxy(prometheus_url, gate.bearer(TOKEN), tls=tls) as (url, seen):
        assert url.startswith("https://")
        untrusted = run(warehouse, url, "--auth", "bearer")
        err = capsys.readouterr().err
        assert untrusted == 5
        assert "TLS certificate is not trusted" in err and "--ca-bundle" in err
        assert seen == []  # nothing, not even the token, was sent before the check
        assert versions(warehouse)["gpu_util"] is None
        assert run(warehouse, url, "--auth", "bearer", "--ca-bundle", str(tls.ca_pem)) == 0
    check_matches_expected(gpu_rows(warehouse))
    assert TOKEN not in capsys.readouterr().out + stored_text(warehouse)


@pytest.mark.parametrize("status", [302, 307])
def test_a_redirect_is_not_followed_and_the_token_goes_nowhere_else(
    status: int, prometheus_url: str, warehouse: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("FINOPS_PROMETHEUS_TOKEN", TOKEN)
    with (
        gate.auth_proxy(prometheus_url, gate.bearer(TOKEN)) as (elsewhere, seen),
        gate.redirect(status, lambda path: elsewhere + path) as url,
    ):
        code = run(warehouse, url, "--auth", "bearer")
    err = capsys.readouterr().err
    assert code == 5
    assert f"Prometheus redirected (HTTP {status}) to {elsewhere}/api/v1/query_range" in err
    assert "give the final address" in err
    assert seen == []  # the other server never saw a request, so never the token
    assert TOKEN not in err + stored_text(warehouse)


@pytest.mark.parametrize(
    ("url", "found"),
    [
        ("https://123456:glc_url-secret-91@prometheus.grafana.net/api/prom",
         "a user or password before the host"),
        ("https://vm.example.net/select/0/prometheus?access_token=glc_url-secret-91",
         "the query parameter 'access_token'"),
    ],
)  # fmt: skip
def test_credentials_in_the_url_are_refused(url: str, found: str, warehouse: Path, capsys) -> None:
    code = run(warehouse, url)
    err = capsys.readouterr().err
    assert code == 2
    assert "credentials in the Prometheus URL are refused" in err and found in err
    assert "$FINOPS_PROMETHEUS_TOKEN" in err  # where they go instead
    assert "glc_url-secret-91" not in err and "***" in err
    assert not warehouse.exists()  # nothing stored, not even the error


@pytest.mark.parametrize(
    ("url", "mode", "region"),
    [
        ("https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0f1e2d3c", "sigv4",
         "us-east-1"),
        ("https://aps-workspaces-fips.us-gov-west-1.amazonaws.com/workspaces/ws-1", "sigv4",
         "us-gov-west-1"),
        ("https://gpu-fleet-a1b2.eastus.prometheus.monitor.azure.com", "azure", None),
        ("https://prometheus-prod-10-prod-us-central-0.grafana.net/api/prom", "none", None),
        ("http://127.0.0.1:9090", "none", None),
    ],
)  # fmt: skip
def test_the_host_names_the_mode(url: str, mode: str, region: str | None) -> None:
    auth = pauth.resolve(url, None, PrometheusSourceSettings(), environ={})
    assert (auth.mode, pauth.region_of(url)) == (mode, region)
    if mode == "sigv4":
        assert auth.region == region  # type: ignore[attr-defined]
    settings = PrometheusSourceSettings()
    explicit = pauth.resolve(url, "bearer", settings, environ={"FINOPS_PROMETHEUS_TOKEN": "t"})
    assert explicit.mode == "bearer"  # --auth wins over the host


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('token = "glc_in-the-file"', "unknown key 'token' in [sources.prometheus]"),
        ('auth = "bearr"', 'auth is not a known mode (did you mean "bearer"?)'),
    ],
)
def test_prometheus_settings_are_parsed_strictly(
    toml: str, message: str, tmp_path: Path, capsys
) -> None:
    config = tmp_path / "finops.toml"
    config.write_text(f"[sources.prometheus]\n{toml}\n", encoding="utf-8")
    code = main(["--config", str(config), "ingest", "telemetry", "prometheus",
                 "http://127.0.0.1:1", *RANGE])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and message in err and "finops.toml" in err
    assert "glc_in-the-file" not in err


def test_a_missing_secret_names_where_it_is_looked_for(tmp_path: Path, capsys) -> None:
    token_file = tmp_path / "token"
    config = tmp_path / "finops.toml"
    config.write_text(f'[sources.prometheus]\nauth = "bearer"\ntoken_file = "{token_file}"\n')
    code = main(["--config", str(config), "ingest", "telemetry", "prometheus",
                 "http://127.0.0.1:1", *RANGE])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "cannot read [sources.prometheus] token_file" in err
    assert str(token_file) in err
    assert main(["ingest", "telemetry", "prometheus", "http://127.0.0.1:1", "--auth", "basic",
                 *RANGE]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "--auth basic needs a user and a password" in err
    assert "$FINOPS_PROMETHEUS_USER" in err and "$FINOPS_PROMETHEUS_PASSWORD" in err


def test_a_token_file_and_an_injected_azure_credential_read_like_the_direct_server(
    prometheus_url: str, tmp_path: Path
) -> None:
    """Library seams: a token from a mounted file; any azure-core TokenCredential."""
    from azure.core.credentials import AccessToken

    start, end = T0, T0 + timedelta(hours=HOURS)
    direct = prom.fetch_hourly(prom.Client(prometheus_url), start, end).sort("gpu_uuid", "hour")

    class WorkloadToken:  # what a caller's own credential (e.g. workload identity) provides
        def __init__(self) -> None:
            self.scopes: list[str] = []

        def get_token(self, *scopes: str, **kwargs) -> AccessToken:
            self.scopes.extend(scopes)
            return AccessToken(AZURE_TOKEN, int(time.time()) + 3600)

    credential = WorkloadToken()
    with gate.auth_proxy(prometheus_url, gate.bearer(AZURE_TOKEN)) as (url, _):
        auth = pauth.AzureAuth(credential=credential)
        via_azure = prom.fetch_hourly(prom.Client(url, auth=auth), start, end)
    assert via_azure.sort("gpu_uuid", "hour").equals(direct)
    assert credential.scopes == [pauth.PROMETHEUS_SCOPE]  # one token for all the queries
    assert AZURE_TOKEN not in repr(auth)

    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    settings = PrometheusSourceSettings(auth="bearer", token_file=str(token_file))
    with gate.auth_proxy(prometheus_url, gate.bearer(TOKEN)) as (url, _):
        auth = pauth.resolve(url, None, settings, environ={})
        via_file = prom.fetch_hourly(prom.Client(url, auth=auth), start, end)
    assert via_file.sort("gpu_uuid", "hour").equals(direct)
    assert auth.origin == f"the file {token_file} ([sources.prometheus] token_file)"
    assert TOKEN not in repr(auth)
