"""The Spark session `--engine spark` runs on: a local one, a master URL, or Spark Connect.

pyspark is an optional extra (`hybrid-finops[spark]`) and is imported only here, when a step
first asks for a session. A local session (`local[*]`) binds its driver to 127.0.0.1, has
no UI, and its Python workers run this very interpreter, so they see the same packages.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from models.errors import ConfigError, SourceUnavailableError
from models.settings import EngineSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOCAL = "local[*]"
CONNECT_PORT = 15002  # Spark Connect's default port
INSTALL = (
    "pip install 'hybrid-finops[spark]' and a Java 17 runtime "
    "(Debian: apt-get install openjdk-17-jre-headless)"
)


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def _require_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ConfigError(
            "--engine spark needs pyspark, which is not installed",
            expected="pyspark 4 or later",
            found="no pyspark module",
            hint=INSTALL,
        ) from None


def remote_address(url: str) -> tuple[str, int]:
    """Host and port of a Spark Connect URL (sc://host[:port][/;params]), params dropped:
    they may carry a token, which no message repeats."""
    parts = urlsplit(url.split(";")[0])
    try:
        port = parts.port or CONNECT_PORT
    except ValueError:
        port = -1
    if not parts.hostname or port < 0:
        raise ConfigError(
            "the Spark Connect URL names no host",
            expected="sc://HOST[:PORT]",
            found=f"sc://{parts.netloc.rsplit('@', 1)[-1]}",
        )
    return parts.hostname, port


def _reachable(url: str, timeout_s: float = 5.0) -> None:
    """Spark Connect's client retries a dead server for minutes: ask the port once first."""
    host, port = remote_address(url)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SourceUnavailableError(
            f"the Spark Connect server sc://{host}:{port} cannot be reached ({reason})",
            hint="start the server (or the cluster), or check --spark-remote / [engine] "
            "spark_remote",
            retryable=True,
        ) from None


def session(engine: EngineSettings) -> SparkSession:
    """The process's Spark session for `engine` (made once, then reused)."""
    _require_pyspark()
    from pyspark.sql import SparkSession

    if engine.spark_remote is not None:
        _reachable(engine.spark_remote)
        return SparkSession.builder.remote(engine.spark_remote).getOrCreate()
    if _java() is None:
        raise ConfigError(
            "--engine spark needs a Java runtime, and none was found",
            expected="java on PATH or $JAVA_HOME (Java 17 or later)",
            found="no java",
            hint=INSTALL,
        )
    # the workers must import what the driver imports: the same interpreter and venv
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    master = engine.spark_master or LOCAL
    builder = (
        SparkSession.builder.master(master)
        .appName("finops")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")  # the CLI draws its own progress
        .config("spark.sql.caseSensitive", "true")  # FOCUS and x_ names differ by case only
        .config("spark.sql.session.timeZone", "UTC")
        # staged folders hold data files only: the store reads every *.parquet it is given
        .config("spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
        .config("spark.hadoop.parquet.enable.summary-metadata", "false")
        # timestamps as Parquet's INT64 microseconds (UTC), as DuckDB and polars write them
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    )
    if master.startswith("local"):  # one machine: no port on another interface, few tasks
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # block manager, executors
        builder = (
            builder.config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.sql.shuffle.partitions", str(2 * (os.cpu_count() or 1)))
        )
    with warnings.catch_warnings():  # pyspark frets over pandas 3, which Arrow data skips
        warnings.simplefilter("ignore", FutureWarning)
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
