"""The Spark session's preconditions, told before any JVM starts: pyspark and Java present,
a Spark Connect server answering. (The session itself: tests/e2e/test_spark_sample.py.)"""

from __future__ import annotations

import socket
import sys

import pytest

from ingest.engines import spark_session
from models.errors import ConfigError, SourceUnavailableError
from models.settings import EngineSettings


def test_without_pyspark_the_message_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # `import pyspark` raises ImportError
    with pytest.raises(ConfigError) as caught:
        spark_session.session(EngineSettings("spark"))
    said = caught.value.render()
    assert said.startswith("--engine spark needs pyspark, which is not installed")
    assert "pip install 'hybrid-finops[spark]'" in said
    assert "openjdk-17-jre-headless" in said


def test_without_java_the_message_says_how_to_install(monkeypatch) -> None:
    pytest.importorskip("pyspark")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError) as caught:
        spark_session.session(EngineSettings("spark"))
    said = caught.value.render()
    assert "--engine spark needs a Java runtime, and none was found" in said
    assert "pip install 'hybrid-finops[spark]'" in said


def test_an_unreachable_connect_server_is_one_message_without_its_token() -> None:
    pytest.importorskip("pyspark")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"sc://127.0.0.1:{port}/;token=planted-secret-42"
    with pytest.raises(SourceUnavailableError) as caught:
        spark_session.session(EngineSettings("spark", None, url))
    said = caught.value.render()
    assert said.startswith(f"the Spark Connect server sc://127.0.0.1:{port} cannot be reached")
    assert "planted-secret-42" not in said
    assert caught.value.retryable


def test_a_connect_url_without_a_port_means_15002() -> None:
    assert spark_session.remote_address("sc://spark.example.com") == ("spark.example.com", 15002)
    assert spark_session.remote_address("sc://h:443/;use_ssl=true;token=x") == ("h", 443)
    with pytest.raises(ConfigError, match="names no host"):
        spark_session.remote_address("sc://;token=x")
