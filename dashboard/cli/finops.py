"""`finops`: the command line. Commands live in dashboard/cli/, imported only when used.

Errors from any layer arrive here as FinopsError and are shown once, as one message, with a
non-zero exit code; nothing below this module prints to the terminal on its own.

`--warehouse` and `--config` are defined here once and accepted before or after any command
or group, at any depth: every command this module loads gets them. The one given last on the
command line (the closest to the command) wins; settings are read only once the whole command
line is parsed, so a `--config` after the command replaces ./finops.toml unread.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
import sys
import textwrap
import tomllib
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from models.errors import (
    ConfigError,
    FinopsError,
    InputError,
    ReconciliationError,
    SourceUnavailableError,
    WarehouseError,
)
from models.settings import Settings, parse_settings
from models.urls import redact

if TYPE_CHECKING:
    from ingest.warehouse.location import Location

COMMANDS = {
    "ingest": "dashboard.cli.ingest:group",
    "query": "dashboard.cli.query:command",
    "loads": "dashboard.cli.loads:command",
    "vacuum": "dashboard.cli.vacuum:command",
    "check": "dashboard.cli.check:command",
    "dashboard": "dashboard.cli.serve:dashboard",
    "demo": "dashboard.cli.serve:demo",
    "sample": "dashboard.cli.sample:command",
    "classify": "dashboard.cli.classify:command",
    "rules": "dashboard.cli.rules:group",
    "explain": "dashboard.cli.explain:command",
    "own-vs-rent": "dashboard.cli.own_vs_rent:command",
    "unit-costs": "dashboard.cli.unit_costs:command",
    "interconnect": "dashboard.cli.interconnect:command",
    "placement": "dashboard.cli.placement:command",
    "report": "dashboard.cli.report:command",
    "export": "dashboard.cli.export:command",
    "runs": "dashboard.cli.runs:command",
    "watch": "dashboard.cli.watch:command",
}


SCOPE = "finops.scope"  # ctx.meta key: one Scope shared by every context of a command line
INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl+C (128 + SIGINT)
INTERNAL = 70  # EX_SOFTWARE (sysexits.h): a bug in finops, not in its input
DEBUG_ENV = "FINOPS_DEBUG"  # set (or --debug) to see a bug's traceback instead of one line


@dataclass
class Scope:
    """--warehouse and --config as given on the command line; a later one replaces an earlier."""

    warehouse: str | None = None
    config: str | None = None
    engine: str | None = None  # --engine, --spark-master, --spark-remote: over [engine]
    spark_master: str | None = None
    spark_remote: str | None = None


def _remember(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        setattr(ctx.meta.setdefault(SCOPE, Scope()), str(param.name), value)


def scope_options() -> list[click.Option]:
    """The options every command takes, wherever they stand on the command line."""
    return [
        click.Option(
            ["--warehouse"],
            metavar="DIR|URL",
            expose_value=False,
            callback=_remember,
            help="Warehouse folder or object storage prefix, e.g. s3://bucket/warehouse "
            "(default: ./data/warehouse, or $FINOPS_WAREHOUSE).",
        ),
        click.Option(
            ["--config"],
            metavar="FILE",
            expose_value=False,
            callback=_remember,
            help="Settings file (default: ./finops.toml, or $FINOPS_CONFIG).",
        ),
    ]


def scoped(command: click.Command) -> click.Command:
    """Give `command` (and a plain group's subcommands) --warehouse and --config, and build
    the App from them when a leaf command runs. Idempotent: commands are module objects."""
    if getattr(command, "_finops_scoped", False):
        return command
    taken = {opt for p in command.params for opt in p.opts}
    for option in scope_options():
        if taken & set(option.opts):  # one definition: a command must not declare its own
            raise TypeError(f"command {command.name!r} declares {option.opts[0]} itself")
        command.params.append(option)
    if isinstance(command, click.Group):
        for sub in command.commands.values():  # a LazyGroup scopes what it loads itself
            scoped(sub)
    elif command.callback is not None:
        command.callback = _with_app(command.callback)
    command._finops_scoped = True  # type: ignore[attr-defined]
    return command


def _with_app(callback: Any) -> Any:
    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> None:
        ctx = click.get_current_context()
        scope = ctx.meta.get(SCOPE) or Scope()
        if ctx.obj is None:
            ctx.obj = App.from_options(scope.warehouse, scope.config)
        elif isinstance(ctx.obj, App):  # a command run by another (finops demo's ingests)
            ctx.obj.override(scope.warehouse, scope.config)
        if isinstance(ctx.obj, App):
            ctx.obj.use_engine(scope)
        callback(*args, **kwargs)  # no value passes: main() reads an int as an exit code

    return run


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (keeps `finops ingest` fast)."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        # A command whose module is not part of this build is simply not offered.
        present = {n for n, t in self.lazy.items() if find_spec(t.split(":")[0]) is not None}
        return sorted({*super().list_commands(ctx), *present})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and find_spec(self.lazy[name].split(":")[0]) is not None:
            module, attr = self.lazy[name].split(":")
            return scoped(getattr(importlib.import_module(module), attr))
        command = super().get_command(ctx, name)
        return None if command is None else scoped(command)


@dataclass
class App:
    """What every command gets as ctx.obj."""

    settings: Settings
    warehouse: Location
    config_file: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    brief: bool = False  # one line per ingest instead of a row per period (finops demo)

    @classmethod
    def from_options(cls, warehouse: str | None, config: str | None) -> App:
        settings, path = load_settings(config)
        return cls(
            settings=settings, warehouse=resolve_warehouse(warehouse, settings), config_file=path
        )

    def override(self, warehouse: str | None, config: str | None) -> None:
        """What a command run by another command was given itself."""
        if config is not None:
            self.settings, self.config_file = load_settings(config)
        if warehouse is not None:
            self.warehouse = warehouse_location(warehouse)

    def use_engine(self, scope: Scope) -> None:
        """--engine / --spark-master / --spark-remote over the file's [engine]; a master or
        remote URL alone means Spark."""
        given = {
            k: v for k, v in (("name", scope.engine), ("spark_master", scope.spark_master),
                              ("spark_remote", scope.spark_remote)) if v is not None
        }  # fmt: skip
        if not given:
            return
        if "name" not in given:
            given["name"] = "spark"
        if "spark_master" in given or "spark_remote" in given:  # the command line's one wins
            given = {"spark_master": None, "spark_remote": None, **given}
        engine = dataclasses.replace(self.settings.engine, **given)
        self.settings = dataclasses.replace(self.settings, engine=engine)

    @property
    def console(self):  # rich is imported only when something is printed
        # markup off: data such as a regex `[a-z]` or a section `[classify]` prints as it is
        from rich.console import Console

        return Console(stderr=False, highlight=False, soft_wrap=True, markup=False)

    @property
    def err_console(self):
        from rich.console import Console

        return Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

    def connect(self, as_of=None):
        """Read-only DuckDB over the warehouse snapshot, with every derived view."""
        from ingest.warehouse import connection as warehouse

        warehouse.require(self.warehouse)
        self.register_views()
        return warehouse.connect(
            self.warehouse, as_of, memory_limit=self.settings.warehouse.memory_limit
        )

    def register_views(self) -> None:
        from ingest.warehouse import views

        views.register_all(self.settings)

    def store(self):
        from ingest.warehouse.store import Store

        return Store(self.warehouse)


def load_settings(config: str | None) -> tuple[Settings, Path | None]:
    path = Path(config) if config else None
    if path is None and os.environ.get("FINOPS_CONFIG"):
        path = Path(os.environ["FINOPS_CONFIG"])
    if path is None and Path("finops.toml").exists():
        path = Path("finops.toml")
    if path is None:
        return Settings(), None
    if not path.exists():
        raise ConfigError("configuration file not found", file=str(path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(path)) from None
    settings = parse_settings(data, origin=str(path))
    _check_owned_sections(settings, str(path))
    return settings, path


def _check_owned_sections(settings: Settings, origin: str) -> None:
    """parse_settings checked every section's keys and types; what its users derive from a
    section (the login's secret from the environment, an invoice's month) is checked now too,
    so a mistake is reported when the file is read rather than when a page first needs it."""
    from dashboard.cli.auth import parse_auth
    from dashboard.report.config import report_settings

    parse_auth(settings.auth, origin)
    report_settings(settings)


def resolve_warehouse(option: str | None, settings: Settings) -> Location:
    if option:
        return warehouse_location(option)
    if os.environ.get("FINOPS_WAREHOUSE"):
        return warehouse_location(os.environ["FINOPS_WAREHOUSE"])
    return warehouse_location(settings.warehouse.path)


def warehouse_location(text: str) -> Location:
    """A local folder or an object storage prefix (ingest/warehouse/location.py)."""
    from ingest.warehouse.location import parse

    return parse(text)


def _exit_codes() -> str:
    """The epilog of `finops --help`; each code is the one main() really returns."""
    codes = [
        (0, "done (also --help, --version, and a dashboard stopped by Ctrl+C, SIGTERM or "
         "SIGHUP)"),
        (1, f"a bug shown with its traceback (--debug or {DEBUG_ENV}=1), or a dashboard "
         "server that failed"),
        (InputError.exit_code, "bad input (a file, an API answer or an argument), a "
         "configuration error, or a command line that does not parse"),
        (ReconciliationError.exit_code, "reconciliation failed: warehouse totals would not "
         "equal the source's, nothing was committed"),
        (WarehouseError.exit_code, "the warehouse cannot be read or written (missing, "
         "locked, corrupt)"),
        (SourceUnavailableError.exit_code, "a remote source (S3, Blob, an API, Prometheus) "
         "refused or failed; trying again may help"),
        (INTERNAL, "an internal error (a bug in finops): one line; --debug or "
         f"{DEBUG_ENV}=1 shows its traceback"),
        (INTERRUPTED, "interrupted (Ctrl+C)"),
    ]  # fmt: skip
    lines = [
        textwrap.fill(text, 76, initial_indent=f"  {code:<4} ", subsequent_indent=" " * 7)
        for code, text in codes
    ]  # click would join the lines of a \b paragraph only after wrapping them itself
    return "\b\nExit codes:\n" + "\n".join(lines)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=_exit_codes(),
)
@click.version_option(package_name="hybrid-finops")
def cli() -> None:
    """Cost analytics for AI spend across AWS, Azure, GCP, on-prem GPUs and SaaS.

    --warehouse and --config go before or after any command (`finops query --warehouse W
    SQL`); given twice, the one closest to the command wins.
    """


def _endpoint(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:  # the standard variable: deltalake, pyarrow, boto3 and a dashboard all read it
        os.environ["AWS_ENDPOINT_URL"] = value


def _debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:  # read by main() when a bug reaches it, and by any process finops starts
        os.environ[DEBUG_ENV] = "1"


cli.params.extend(scope_options())
cli.params.extend(
    [
        click.Option(
            ["--engine"],
            type=click.Choice(["duckdb", "spark"]),
            expose_value=False,
            callback=_remember,
            help="What runs the heavy per-line steps: duckdb on this machine (default), or "
            "spark (also [engine] name in finops.toml).",
        ),
        click.Option(
            ["--spark-master"],
            metavar="URL",
            expose_value=False,
            callback=_remember,
            help="Spark master for --engine spark, e.g. spark://HOST:7077 or yarn "
            "(default: a local session, local[*]).",
        ),
        click.Option(
            ["--spark-remote"],
            metavar="sc://HOST",
            expose_value=False,
            callback=_remember,
            help="Spark Connect server for --engine spark, e.g. sc://HOST:15002 "
            "(Databricks, Spark 4).",
        ),
    ]
)
cli.params.append(
    click.Option(
        ["--endpoint-url"],
        metavar="URL",
        expose_value=False,
        is_eager=True,
        callback=_endpoint,
        help="S3 endpoint of an s3:// warehouse, e.g. a MinIO server (also $AWS_ENDPOINT_URL).",
    )
)
cli.params.append(
    click.Option(
        ["--debug"],
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_debug,
        help=f"Show a bug's full traceback (also {DEBUG_ENV}=1).",
    )
)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: runs a command and turns domain errors into one message + exit code."""
    from ingest.arrow_pool import use_reusing_pool

    use_reusing_pool()  # before any Parquet is read
    try:
        # Not standalone, so errors reach the handlers below; an Exit (--help, a stopped
        # dashboard) comes back as its code instead of raising, and nothing else comes back.
        code = cli.main(args=argv, prog_name="finops", standalone_mode=False)
    except FinopsError as exc:
        click.echo(f"{exc.title}: {exc.render()}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except Exception as exc:  # a bug: one line for the user, the traceback on request
        if os.environ.get(DEBUG_ENV):
            raise
        said = redact(str(exc).splitlines()[0][:200]) if str(exc) else ""
        click.echo(
            f"Internal error: {type(exc).__name__}{': ' if said else ''}{said} — this is a "
            f"bug in finops; please report it (run again with --debug or {DEBUG_ENV}=1 for "
            "the details)",
            err=True,
        )
        return INTERNAL
    return code if isinstance(code, int) and not isinstance(code, bool) else 0


if __name__ == "__main__":
    sys.exit(main())
