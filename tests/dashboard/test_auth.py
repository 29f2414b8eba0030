"""With [auth], an anonymous browser sees only the login; after signing in through a local
OIDC provider (oidc-provider-mock) the pages render. Also the [auth] settings themselves."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from dashboard.cli.auth import check_bind, parse_auth, secrets_toml
from models.errors import ConfigError
from tests.fixtures.served import Served

GOOD = {
    "client_id": "finops",
    "client_secret": "s3cret",
    "server_metadata_url": "http://localhost:9/.well-known/openid-configuration",
}


@pytest.mark.slow
def test_login_through_the_local_oidc_provider(browser, small_warehouse: Path, tmp_path) -> None:
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread() as oidc:
        config = tmp_path / "finops.toml"
        config.write_text(
            '[auth]\nclient_id = "finops"\nclient_secret = "s3cret"\n'
            f'server_metadata_url = "http://localhost:{oidc.server_port}'
            '/.well-known/openid-configuration"\n',
            encoding="utf-8",
        )
        with Served(small_warehouse, config) as served:
            page = browser.new_page()
            for path in ("", "/idle"):  # a deep link is no way around the login
                page.goto(served.url + path)
                page.get_by_text("Sign in to see the dashboard.").wait_for(timeout=60_000)
                assert page.locator('[data-testid="stSidebarNav"]').count() == 0
                assert page.locator('[data-testid="stMetric"]').count() == 0
                assert page.get_by_text("USD").count() == 0
            page.get_by_role("button", name="Log in").click()
            page.locator('input[name="sub"]').fill("alice")
            page.get_by_role("button", name="Authorize").click()
            page.locator("h1", has_text="Overview").wait_for(timeout=60_000)
            page.get_by_text("USD 1,787.45").first.wait_for(timeout=60_000)
            assert page.get_by_text("Signed in as alice").count() == 1
            assert page.locator('[data-testid="stException"]').count() == 0
            page.locator('[data-testid="stSidebarNav"] a', has_text="Idle GPUs").first.click()
            page.locator("h1", has_text="Idle GPUs").wait_for(timeout=60_000)
            page.close()


def test_auth_secrets_carry_the_provider_and_a_private_cookie_secret() -> None:
    auth = parse_auth(GOOD)
    one, two = (tomllib.loads(secrets_toml(auth, "127.0.0.1", 8501)) for _ in range(2))
    assert one["auth"]["redirect_uri"] == "http://localhost:8501/oauth2callback"
    assert one["auth"]["client_secret"] == "s3cret"
    assert len(one["auth"]["cookie_secret"]) >= 32
    assert one["auth"]["cookie_secret"] != two["auth"]["cookie_secret"]


def test_client_secret_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("OIDC_SECRET", "from-env")
    section = {k: v for k, v in GOOD.items() if k != "client_secret"}
    assert parse_auth({**section, "client_secret_env": "OIDC_SECRET"}).client_secret == "from-env"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({**GOOD, "client_idd": "x"}, 'did you mean "client_id"'),
        ({k: v for k, v in GOOD.items() if k != "client_id"}, "missing client_id"),
        ({k: v for k, v in GOOD.items() if k != "client_secret"}, "client_secret"),
        ({**GOOD, "client_id": 7},
         "[auth] client_id has the wrong type — expected a string, found 7"),
        ({**GOOD, "client_id": ""}, "[auth] client_id must be a non-empty string"),
        ({**{k: v for k, v in GOOD.items() if k != "client_secret"},
          "client_secret_env": "FINOPS_TEST_UNSET_VARIABLE"}, "which is not set"),
    ],
)  # fmt: skip
def test_bad_auth_sections_are_one_clear_error(section: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_auth(section)
    assert message in err.value.render()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.org"])
def test_no_public_bind_without_auth(host: str) -> None:
    with pytest.raises(ConfigError, match="unless \\[auth\\] is configured"):
        check_bind(host, None)
    check_bind(host, parse_auth(GOOD))  # with a login in front it may


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_needs_no_auth(host: str) -> None:
    check_bind(host, None)


def test_finops_dashboard_refuses_a_public_address_without_auth(small_warehouse, capsys) -> None:
    from dashboard.cli.finops import main

    code = main(["--warehouse", str(small_warehouse), "dashboard", "--host", "0.0.0.0"])
    assert code != 0
    assert "serves only 127.0.0.1 unless [auth] is configured" in capsys.readouterr().err
