"""`finops`: the command line. Commands live in dashboard/commands/, imported only when used.

Errors from any layer arrive here as FinopsError and are shown once, as one message, with a
non-zero exit code; nothing below this module prints to the terminal on its own.
"""

from __future__ import annotations

import importlib
import os
import sys
import tomllib
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import click

from models.errors import ConfigError, FinopsError
from models.settings import Settings, parse_settings

COMMANDS = {
    "ingest": "dashboard.commands.ingest:group",
    "query": "dashboard.commands.query:command",
    "loads": "dashboard.commands.loads:command",
    "vacuum": "dashboard.commands.vacuum:command",
    "dashboard": "dashboard.commands.serve:dashboard",
    "demo": "dashboard.commands.serve:demo",
    "sample": "dashboard.commands.sample:command",
    "classify": "dashboard.commands.classify:command",
    "rules": "dashboard.commands.rules:group",
    "explain": "dashboard.commands.explain:command",
    "own-vs-rent": "dashboard.commands.own_vs_rent:command",
    "report": "dashboard.commands.report:command",
    "export": "dashboard.commands.export:command",
}


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
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


@dataclass
class App:
    """What every command gets as ctx.obj."""

    settings: Settings
    warehouse: Path
    config_file: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    brief: bool = False  # one line per ingest instead of a row per period (finops demo)

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
        from ingest import warehouse

        warehouse.require(self.warehouse)
        self.register_views()
        return warehouse.connect(
            self.warehouse, as_of, memory_limit=self.settings.warehouse.memory_limit
        )

    def register_views(self) -> None:
        from ingest import views

        views.register_all(self.settings)

    def store(self):
        from ingest.store import Store

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
    """Sections kept as tables are parsed strictly by their owners; do it now, so a typo is
    reported when the file is read rather than when a page or report first needs it."""
    from dashboard.auth import parse_auth
    from dashboard.report_config import report_settings
    from models.allocate import parse_allocation
    from models.rules import parse_classify_settings

    parse_classify_settings(settings.classify, origin)
    parse_allocation(settings.allocation, origin)
    parse_auth(settings.auth, origin)
    report_settings(settings)


def resolve_warehouse(option: str | None, settings: Settings) -> Path:
    if option:
        return Path(option)
    if os.environ.get("FINOPS_WAREHOUSE"):
        return Path(os.environ["FINOPS_WAREHOUSE"])
    return Path(settings.warehouse.path)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--warehouse",
    metavar="DIR",
    help="Warehouse folder (default: ./data/warehouse, or $FINOPS_WAREHOUSE).",
)
@click.option(
    "--config", metavar="FILE", help="Settings file (default: ./finops.toml, or $FINOPS_CONFIG)."
)
@click.version_option(package_name="hybrid-finops")
@click.pass_context
def cli(ctx: click.Context, warehouse: str | None, config: str | None) -> None:
    """Cost analytics for AI spend across AWS, Azure, GCP, on-prem GPUs and SaaS."""
    settings, path = load_settings(config)
    ctx.obj = App(
        settings=settings, warehouse=resolve_warehouse(warehouse, settings), config_file=path
    )


def main(argv: list[str] | None = None) -> int:
    """Console entry point: runs a command and turns domain errors into one message + exit code."""
    try:
        cli.main(args=argv, prog_name="finops", standalone_mode=False)
    except FinopsError as exc:
        click.echo(f"{exc.title}: {exc.render()}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
