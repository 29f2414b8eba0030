"""Classification rules as data: strict parsing of rule documents and `[classify]` settings.

A rule file is TOML with a list of `[[rules]]`; each rule has an `id`, a `priority` (higher
wins; the number is data, never a file name), a `match` table of conditions that must all hold,
and a `set` table naming what it decides:

    [[rules]]
    id = "aws.egress.internet"
    priority = 520
    description = "EC2/S3 data transfer out to the internet"
    match.x_UsageType = { regex = '(^|-)DataTransfer-Out-Bytes$' }
    match.x_ServiceCode = { not_in = ["AmazonCloudFront"] }
    set = { ai_class = "egress", egress_kind = "internet" }

A condition is a plain string (equality) or a table with one operator: `eq`, `ne`, `in`,
`not_in`, `regex`, `not_regex`, `null` (true/false), `gt`, `ge` (numbers). Fields are the
cost_lines columns plus a few derived ones (FIELDS_DERIVED), `tag.<key>` for one tag and
`price.<key>` for one SkuPriceDetails key. Regexes use the Rust `regex` syntax polars runs
(no look-around); a pattern it cannot compile is rejected when the file is read.

Pure: callers read files and hand over parsed dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from models.errors import ConfigError, did_you_mean
from models.schema import COST_LINES
from models.sections import parse_section

# The AI classes by name: code that acts on a class (GPU-hours, egress, tools) names it here.
GPU_COMPUTE = "gpu_compute"
EGRESS = "egress"
STORAGE = "storage"
MANAGED_AI = "managed_ai"
SAAS_TOOL = "saas_tool"
CPU_COMPUTE = "cpu_compute"
OTHER = "other"  # no rule decided
AI_CLASSES = (GPU_COMPUTE, EGRESS, STORAGE, MANAGED_AI, SAAS_TOOL, CPU_COMPUTE, OTHER)
NOT_AI_CLASSES = (CPU_COMPUTE, OTHER)  # the rest is AI spend (e.g. egress share of it)
EGRESS_KINDS = (
    "internet",
    "inter_region",
    "inter_az",
    "cross_cloud",
    "cdn",
    "interconnect",
    "nat_endpoint",
)
UNKNOWN_WORKLOAD = "unknown"  # no rule decided
WORKLOADS = ("training", "inference", "experimentation", "data_prep", UNKNOWN_WORKLOAD)

# Derived fields a rule may test (computed by models/classify.py before the rules run).
FIELDS_DERIVED = {
    "instance_type": "normalised instance type / VM size / machine type (lower case)",
    "instance_family": "family part of the instance type (p5, g6e, nd_h100_v5, a3-highgpu)",
    "accelerator": "'yes' when the instance type is a known GPU/accelerator type",
    "gpu_count": "accelerators per instance from the shipped catalogue (number)",
    "workload_tag": "first value found among the configured workload tag keys",
    "sku_description": "SkuMeter, else ChargeDescription (GCP SKU descriptions, Azure meters)",
}
OPERATORS = ("eq", "ne", "in", "not_in", "regex", "not_regex", "null", "gt", "ge")
SETTABLE = {
    "ai_class": AI_CLASSES,
    "egress_kind": EGRESS_KINDS,
    "workload": WORKLOADS,
}
RULE_KEYS = ("id", "priority", "description", "match", "set")


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any

    def expr(self, col: pl.Expr) -> pl.Expr:
        """Boolean expression; a null input never matches (except `null = true`, `ne`)."""
        v = self.value
        if self.op == "eq":
            return (col == v).fill_null(False)
        if self.op == "ne":
            return (col != v).fill_null(True)
        if self.op == "in":
            return col.is_in(list(v)).fill_null(False)
        if self.op == "not_in":
            return (~col.is_in(list(v))).fill_null(True)
        if self.op == "regex":
            return col.str.contains(v).fill_null(False)
        if self.op == "not_regex":
            return (~col.str.contains(v)).fill_null(True)
        if self.op == "null":
            return col.is_null() if v else col.is_not_null()
        num = col.cast(pl.Float64, strict=False)
        if self.op == "gt":
            return (num > float(v)).fill_null(False)
        return (num >= float(v)).fill_null(False)


@dataclass(frozen=True)
class Rule:
    id: str
    priority: int
    conditions: tuple[Condition, ...]
    sets: dict[str, str]
    description: str = ""
    origin: str = ""

    @property
    def fields(self) -> set[str]:
        return {c.field for c in self.conditions}


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]

    def for_target(self, target: str) -> list[Rule]:
        """Rules deciding `target`, strongest first (priority desc, then id for stability)."""
        chosen = [r for r in self.rules if target in r.sets]
        return sorted(chosen, key=lambda r: (-r.priority, r.id))

    def by_id(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    @property
    def fields(self) -> set[str]:
        return set().union(*(r.fields for r in self.rules)) if self.rules else set()


@dataclass(frozen=True)
class ClassifySettings:
    """`[classify]` in finops.toml."""

    rules: list[str] = field(default_factory=list)  # extra rule files, applied over shipped
    disable: list[str] = field(default_factory=list)  # shipped rule ids switched off
    team_tags: list[str] = field(
        default_factory=lambda: ["team", "Team", "user_team", "user:team", "owner-team"]
    )
    project_tags: list[str] = field(
        default_factory=lambda: ["project", "Project", "user_project", "user:project"]
    )
    environment_tags: list[str] = field(
        default_factory=lambda: ["env", "environment", "Environment", "user_env", "user:env"]
    )
    workload_tags: list[str] = field(
        default_factory=lambda: ["workload", "job-type", "job_type", "user_workload", "ml-stage"]
    )
    team_aliases: dict[str, str] = field(default_factory=dict)  # tag value -> team
    account_teams: dict[str, str] = field(default_factory=dict)  # account/subscription/project
    account_projects: dict[str, str] = field(default_factory=dict)
    account_environments: dict[str, str] = field(default_factory=dict)
    unallocated: str = "unallocated"


def parse_classify_settings(data: Any, origin: str = "finops.toml") -> ClassifySettings:
    """`[classify]` parsed strictly (one already parsed, as Settings holds it, is returned)."""
    return parse_section(ClassifySettings, data, "classify", origin)


def _known_field(name: str) -> bool:
    if name.startswith(("tag.", "price.")) and len(name.split(".", 1)[1]) > 0:
        return True
    return name in COST_LINES.names or name in FIELDS_DERIVED


def _check_regex(pattern: Any, where: str, origin: str) -> str:
    if not isinstance(pattern, str):
        raise ConfigError(f"{where}: regex must be a string", file=origin, found=repr(pattern))
    try:
        pl.select(pl.lit("").str.contains(pattern)).item()
    except pl.exceptions.ComputeError as exc:
        # the engine's reason is its "error: ..." line; polars may add the expression after it
        lines = [line.strip() for line in str(exc).splitlines()]
        reason = next(
            (line for line in lines if line.startswith("error:")), lines[0] if lines else ""
        )
        raise ConfigError(
            f"{where}: invalid regex",
            file=origin,
            expected="a pattern in Rust regex syntax (no look-around)",
            found=repr(pattern),
            hint=reason.removeprefix("error:").strip() or None,
        ) from None
    return pattern


def _condition(
    fname: str, spec: Any, where: str, origin: str, fields: tuple[str, ...] = ()
) -> Condition:
    if not (_known_field(fname) or fname in fields):
        choices = [*COST_LINES.names, *FIELDS_DERIVED, *fields]
        raise ConfigError(
            f"{where}: unknown field {fname!r}{did_you_mean(fname, choices)}",
            file=origin,
            expected="a cost_lines column, a derived field "
            f"({', '.join(FIELDS_DERIVED)}), tag.<key> or price.<key>",
            found=fname,
        )
    if isinstance(spec, str | bool | int | float) and not isinstance(spec, dict):
        return Condition(fname, "eq", spec)
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ConfigError(
            f"{where}: condition on {fname!r} needs exactly one operator",
            file=origin,
            expected=f"a value or {{op = value}} with op in {list(OPERATORS)}",
            found=repr(spec),
        )
    ((op, value),) = spec.items()
    if op not in OPERATORS:
        raise ConfigError(
            f"{where}: unknown operator {op!r}{did_you_mean(op, OPERATORS)}",
            file=origin,
            expected=f"one of {list(OPERATORS)}",
            found=op,
        )
    if op in ("regex", "not_regex"):
        value = _check_regex(value, f"{where} {fname}", origin)
    elif op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise ConfigError(
                f"{where}: {op} needs a non-empty list", file=origin, found=repr(value)
            )
    elif op == "null":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: null needs true or false", file=origin, found=repr(value))
    elif op in ("gt", "ge") and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ConfigError(f"{where}: {op} needs a number", file=origin, found=repr(value))
    return Condition(fname, op, value)


def parse_rule(data: Any, origin: str, index: int) -> Rule:
    where = f"rule #{index + 1}"
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a table", file=origin, found=repr(data))
    for key in data:
        if key not in RULE_KEYS:
            raise ConfigError(
                f"{where}: unknown key {key!r}{did_you_mean(key, RULE_KEYS)}",
                file=origin,
                expected=f"one of {list(RULE_KEYS)}",
                found=key,
            )
    rid = data.get("id")
    if not isinstance(rid, str) or not rid.strip():
        raise ConfigError(f"{where}: every rule needs an id (a string)", file=origin)
    where = f"rule {rid!r}"
    prio = data.get("priority")
    if isinstance(prio, bool) or not isinstance(prio, int):
        raise ConfigError(
            f"{where}: priority must be an integer",
            file=origin,
            expected="e.g. 500",
            found=repr(prio),
        )
    match = data.get("match", {})
    if not isinstance(match, dict):
        raise ConfigError(f"{where}: match must be a table", file=origin, found=repr(match))
    sets = data.get("set")
    if not isinstance(sets, dict) or not sets:
        raise ConfigError(
            f"{where}: set must name at least one of {list(SETTABLE)}",
            file=origin,
            found=repr(sets),
        )
    for target, value in sets.items():
        if target not in SETTABLE:
            raise ConfigError(
                f"{where}: cannot set {target!r}{did_you_mean(target, SETTABLE)}",
                file=origin,
                expected=f"one of {list(SETTABLE)}",
                found=target,
            )
        if value not in SETTABLE[target]:
            raise ConfigError(
                f"{where}: {target} = {value!r} is not a valid value"
                f"{did_you_mean(str(value), SETTABLE[target])}",
                file=origin,
                expected=f"one of {list(SETTABLE[target])}",
                found=repr(value),
            )
    if "egress_kind" in sets and sets.get("ai_class") != "egress":
        raise ConfigError(
            f'{where}: egress_kind is only meaningful with ai_class = "egress"', file=origin
        )
    conditions = tuple(_condition(fname, spec, where, origin) for fname, spec in match.items())
    return Rule(rid, prio, conditions, dict(sets), str(data.get("description", "")), origin)


def parse_rules(doc: dict[str, Any], origin: str) -> list[Rule]:
    """Rules of one parsed TOML document (top level: only `rules`)."""
    for key in doc:
        if key != "rules":
            raise ConfigError(
                f"unknown top-level key {key!r}{did_you_mean(key, ['rules'])}",
                file=origin,
                expected="[[rules]] tables only",
                found=key,
            )
    items = doc.get("rules", [])
    if not isinstance(items, list):
        raise ConfigError("`rules` must be an array of tables ([[rules]])", file=origin)
    rules = [parse_rule(item, origin, i) for i, item in enumerate(items)]
    seen: dict[str, int] = {}
    for i, r in enumerate(rules):
        if r.id in seen:
            raise ConfigError(
                f"duplicate rule id {r.id!r}",
                file=origin,
                location=f"rules #{seen[r.id] + 1} and #{i + 1}",
            )
        seen[r.id] = i
    return rules


def build_ruleset(
    shipped: list[Rule], extra: list[list[Rule]], settings: ClassifySettings
) -> RuleSet:
    """Shipped rules, minus disabled ids, with user rules added (a user rule with a shipped
    rule's id replaces it)."""
    by_id = {r.id: r for r in shipped}
    for rid in settings.disable:
        if rid not in by_id:
            raise ConfigError(
                f"[classify] disable names an unknown rule {rid!r}{did_you_mean(rid, by_id)}",
                expected="an id of a shipped rule (`finops rules check` lists them)",
                found=rid,
            )
        del by_id[rid]
    for rules in extra:
        for r in rules:
            by_id[r.id] = r
    return RuleSet(tuple(by_id.values()))
