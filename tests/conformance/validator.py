"""The FinOps Foundation's focus-validator, run as its command line, and its verdict read back.

tests/setup/focus_validator.sh installs it into .cache/focus-validator (its own venv: it needs
Python >= 3.12) with the working directory it must run in (it reads the ISO 4217 codes from
focus_validator/rules/currency_codes.csv relative to it). The verdict comes from its JUnit
report (`--output-type unittest`); whether a rule is a MUST, and what it says, from the rule
model the validator ships (the same file it validates with under `--block-download`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOME = REPO / ".cache" / "focus-validator"
EXECUTABLE = HOME / "venv" / "bin" / "focus-validator"
WORKDIR = HOME / "work"
VERSION = "1.2"
SETUP = "bash tests/setup/focus_validator.sh"
REQUIRED = ("MUST", "MUST NOT")


def command(data_file: Path, *extra: str) -> list[str]:
    return [
        str(EXECUTABLE), "--data-file", str(data_file), "--validate-version", VERSION,
        "--block-download", *extra,
    ]  # fmt: skip


def installed() -> str | None:
    """None when the validator can run here, else what is missing and how to get it."""
    if not EXECUTABLE.exists():
        return f"focus-validator is not installed: run `{SETUP}`"
    if not (WORKDIR / "focus_validator" / "rules" / "currency_codes.csv").exists():
        return f"focus-validator's currency codes are missing: run `{SETUP}`"
    return None


@dataclass(frozen=True)
class Rule:
    id: str
    keyword: str  # MUST, MUST NOT, SHOULD, SHOULD NOT, MAY, ...
    text: str  # the requirement as the specification words it (MustSatisfy)
    logic: str | None  # "AND" / "OR" for a composite of other rules, else None
    children: tuple[str, ...]


def _children(requirement: dict) -> list[str]:
    found = []
    for item in requirement.get("Items", []):
        if item.get("CheckFunction") == "CheckModelRule":
            found.append(item["ModelRuleId"])
        else:
            found.extend(_children(item))
    return found


def rule_model() -> dict[str, Rule]:
    """The rules of FOCUS `VERSION` as the installed validator ships them."""
    shipped = sorted(
        HOME.glob(f"venv/lib/python3*/site-packages/focus_validator/rules/model-{VERSION}*.json")
    )
    if not shipped:
        raise FileNotFoundError(f"no FOCUS {VERSION} rule model in {HOME}: run `{SETUP}`")
    rules = json.loads(shipped[-1].read_text(encoding="utf-8"))["ModelRules"]
    out = {}
    for rule_id, rule in rules.items():
        criteria = rule["ValidationCriteria"]
        requirement = criteria.get("Requirement") or {}
        logic = requirement.get("CheckFunction")
        out[rule_id] = Rule(
            rule_id,
            criteria.get("Keyword", ""),
            criteria.get("MustSatisfy", ""),
            logic if logic in ("AND", "OR") else None,
            tuple(_children(requirement)) if logic in ("AND", "OR") else (),
        )
    return out


CODES = Path("focus_validator") / "rules" / "currency_codes.csv"
# What its log says when it could not read a file as written: it then validates a column of
# nulls (unparseable values dropped) or no column at all, and its verdict is about that.
MISREAD = ("falling back to basic CSV loading", "Dropped column", "Failed to convert")


def run(data_file: Path, workdir: Path, timeout: float = 900) -> dict[str, str]:
    """Validate a FOCUS CSV file: rule id -> passed / failed / errored / skipped.

    Each run gets its own working directory (the currency codes, its log, its report), so
    runs can go side by side.
    """
    (workdir / CODES).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(WORKDIR / CODES, workdir / CODES)
    report = workdir / "report.xml"
    done = subprocess.run(
        command(data_file, "--output-type", "unittest", "--output-destination", str(report)),
        cwd=workdir, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if done.returncode != 0 or not report.exists():
        raise RuntimeError(
            f"focus-validator exited {done.returncode} on {data_file}:\n{done.stderr[-3000:]}"
        )
    log = workdir / "focus_validator_detailed.log"
    said = log.read_text(encoding="utf-8") if log.exists() else ""
    if misread := [line for line in said.splitlines() if any(m in line for m in MISREAD)]:
        raise RuntimeError(f"focus-validator misread {data_file}:\n" + "\n".join(misread))
    return statuses(report)


def statuses(report: Path) -> dict[str, str]:
    out = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        rule_id = case.get("name", "").split(" :: ")[0].strip()
        status = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                status = {"failure": "failed", "error": "errored"}.get(tag, tag)
        out[rule_id] = status
    return out


def must_failures(found: dict[str, str], model: dict[str, Rule]) -> list[str]:
    """The failed rules that a conforming dataset MUST satisfy.

    A composite AND fails when any of its parts fails, a SHOULD among them included: it is
    left to its parts, each judged by its own keyword. The alternatives of an OR are not
    required one by one: the OR is, so it stands for them.
    """
    alternatives = {c for r in model.values() if r.logic == "OR" for c in r.children}
    out = []
    for rule_id, status in sorted(found.items()):
        rule = model.get(rule_id)
        if status not in ("failed", "errored") or rule is None or rule.keyword not in REQUIRED:
            continue
        if rule.logic == "AND" or rule_id in alternatives:
            continue
        out.append(rule_id)
    return out


ALLOWED_ROW = re.compile(r"^\|\s*`(?P<rule>[A-Za-z]+-[A-Z]-\d{3}-[A-Z])`\s*\|(?P<why>.+)\|\s*$")


def allowed(readme: Path, heading: str = "### Rules the validator gets wrong") -> dict[str, str]:
    """The README's table of rules judged to be the validator's mistake: rule id -> reason."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    if heading not in lines:
        raise ValueError(f"{readme} has no '{heading}' section")
    out = {}
    for line in lines[lines.index(heading) + 1 :]:
        if line.startswith("#"):
            break
        if found := ALLOWED_ROW.match(line):
            out[found["rule"]] = found["why"].strip()
    return out
