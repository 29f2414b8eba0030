"""`--engine`, `--spark-master`, `--spark-remote` and finops.toml's [engine]: which engine a
command gets, and one clear message for a URL Spark would refuse (no JVM is started)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dashboard.cli.finops import App, cli, main, scoped
from models.errors import ConfigError
from models.settings import EngineSettings, parse_settings

SEEN: list[EngineSettings] = []


@click.command("engine-probe")
@click.pass_obj
def _probe(app: App) -> None:
    SEEN.append(app.settings.engine)


@pytest.fixture
def probe():
    """A throwaway command that records the engine settings it was given."""
    cli.add_command(scoped(_probe))
    SEEN.clear()
    yield SEEN
    cli.commands.pop("engine-probe", None)


def _run(tmp_path: Path, *args: str, toml: str | None = None):
    if toml is not None:
        (tmp_path / "finops.toml").write_text(toml, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        mp.delenv("FINOPS_CONFIG", raising=False)
        return CliRunner().invoke(cli, [*args, "engine-probe"], catch_exceptions=True)


def test_duckdb_is_the_default(probe, tmp_path: Path) -> None:
    assert _run(tmp_path).exit_code == 0
    assert probe == [EngineSettings("duckdb", None, None)]


def test_a_master_url_alone_means_spark(probe, tmp_path: Path) -> None:
    assert _run(tmp_path, "--spark-master", "spark://10.0.0.5:7077").exit_code == 0
    assert probe == [EngineSettings("spark", "spark://10.0.0.5:7077", None)]


def test_the_command_line_wins_over_the_file(probe, tmp_path: Path) -> None:
    toml = '[engine]\nname = "spark"\nspark_remote = "sc://cluster:15002"\n'
    assert _run(tmp_path, toml=toml).exit_code == 0
    assert _run(tmp_path, "--spark-master", "local[2]", toml=toml).exit_code == 0
    assert _run(tmp_path, "--engine", "duckdb", toml=toml).exit_code == 0
    assert probe == [
        EngineSettings("spark", None, "sc://cluster:15002"),
        EngineSettings("spark", "local[2]", None),  # a master replaces the file's remote
        EngineSettings("duckdb", None, "sc://cluster:15002"),
    ]


def test_a_master_without_a_scheme_is_one_message(capsys, tmp_path: Path) -> None:
    code = main(["--warehouse", str(tmp_path), "--spark-master", "myhost:7077", "classify"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == (
        "Configuration error: the Spark master URL has no scheme Spark knows — expected "
        "local[*], local[N], spark://HOST:PORT, yarn or k8s://https://HOST, found "
        "'myhost:7077' — a Spark Connect server (Databricks, Spark 4) is --spark-remote "
        "sc://HOST:15002"
    )


def test_a_remote_without_sc_is_refused_without_its_token() -> None:
    with pytest.raises(ConfigError) as caught:
        EngineSettings("spark", None, "https://dbc.example.com;token=dapi-planted-secret")
    assert "does not start with sc://" in caught.value.render()
    assert "planted-secret" not in caught.value.render()


def test_an_unknown_engine_in_the_file_names_the_choices() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"engine": {"name": "sparkk"}})
    said = caught.value.render()
    assert "[engine] name is not a known engine" in said
    assert '(did you mean "spark"?)' in said
    assert "one of duckdb, spark" in said
