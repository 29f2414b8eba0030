"""Slurm accounting (`sacct`) output -> training-run allocations (models.training_runs).

As `sacct --parsable2 --allocations --format=JobID,JobName,Account,User,Partition,Submit,
Start,End,State,AllocTRES,NodeList` prints it: `|`-separated fields under a header line
(columns in any order; `--parsable`'s trailing `|` is accepted). sacct prints the cluster's
local time without a zone (`2026-03-04T10:00:00`), so a file needs the zone it was written
in (`--tz`); in the hour a clock turns back a start is read as the first of the two
readings and an end as the first one that is not before its start. `Unknown`/`None` mark
a time not yet known: a job without a start holds no GPUs and is left out; a job without
an end is still running and stays open (models.training_runs counts it up to the last
GPU-hour the warehouse holds).

GPUs come from AllocTRES (`gres/gpu=8`, or typed `gres/gpu:a100=8` when no untyped count
is given); a job with none is not a GPU run and is left out. NodeList is a Slurm hostlist
(`gpu-node-[01-04,07]`, `a[1-2]-b[3-4]`), expanded with zero padding kept; the job's GPUs
are spread evenly over its nodes (sacct does not say more), the first nodes taking one
more when they do not divide. Job steps (`123.batch`), if present, are skipped.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from ingest.warehouse.load_contract import SourceFile
from models.errors import InputError
from models.schema import conform
from models.training_runs import SLURM, SLURM_STATES, TRAINING_RUNS

FIELDS = (
    "JobID", "JobName", "Account", "User", "Partition", "Submit", "Start", "End", "State",
    "AllocTRES", "NodeList",
)  # fmt: skip
FORMAT = ",".join(FIELDS)
NO_TIME = ("Unknown", "None", "")
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$", re.ASCII)
_TRES = re.compile(r"^gres/gpu(?::(?P<type>[^=]+))?=(?P<n>\d+)$")


class ParseError(ValueError):
    """A field that is not what sacct writes; the reader adds file, line and column."""

    def __init__(self, message: str, expected: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.column = ""


def zone(tz: str | None) -> tzinfo:
    """The zone of --tz, or one clear message."""
    if tz is None:
        raise InputError(
            "sacct times have no time zone",
            expected="the cluster's zone as --tz (e.g. --tz America/New_York or --tz UTC)",
            hint="sacct prints the cluster's local time; say which zone with --tz",
        )
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"unknown time zone {tz!r}",
            expected="an IANA zone such as UTC or America/New_York",
            found=tz,
        ) from None


def expand_hostlist(text: str) -> list[str]:
    """A Slurm hostlist -> host names, in order (`gpu-[01-03,07]` -> gpu-01 gpu-02 gpu-03
    gpu-07; `a[1-2]-b[3-4]` -> a1-b3 a1-b4 a2-b3 a2-b4)."""
    hosts: list[str] = []
    for item in _split_top(text.strip()):
        parts: list[list[str]] = []
        pos = 0
        for m in re.finditer(r"\[([^\[\]]*)\]", item):
            parts.append([item[pos : m.start()]])
            parts.append(_expand_ranges(m.group(1), text))
            pos = m.end()
        tail = item[pos:]
        if "[" in tail or "]" in tail or any("[" in p[0] or "]" in p[0] for p in parts[::2]):
            raise ParseError(f"unbalanced brackets in {item!r}", "a hostlist like gpu-[01-04,07]")
        parts.append([tail])
        hosts += ["".join(combo) for combo in itertools.product(*parts)]
    if not hosts or any(not h or re.search(r"[\s,]", h) for h in hosts):
        raise ParseError(f"not a host list: {text!r}", "a hostlist like gpu-node-[01-04,07]")
    return hosts


def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "[") - (ch == "]")
        if depth < 0:
            raise ParseError(f"unbalanced brackets in {text!r}", "a hostlist like gpu-[01-04]")
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if depth:
        raise ParseError(f"unbalanced brackets in {text!r}", "a hostlist like gpu-[01-04]")
    return [*out, cur]


def _expand_ranges(body: str, whole: str) -> list[str]:
    out = []
    for piece in body.split(","):
        m = _RANGE.match(piece.strip())
        if m is None:
            raise ParseError(
                f"not a range {piece!r} in {whole!r}", "numbers or ranges like 01-04 in brackets"
            )
        lo, hi = m.group(1), m.group(2) or m.group(1)
        if int(hi) < int(lo):
            raise ParseError(f"range {piece!r} runs backwards in {whole!r}", "low-high")
        width = len(lo) if lo.startswith("0") and len(lo) > 1 else 0
        if int(hi) - int(lo) > 100_000:
            raise ParseError(f"range {piece!r} is too large in {whole!r}", "a real node range")
        out += [str(i).zfill(width) for i in range(int(lo), int(hi) + 1)]
    return out


def gpus_of(tres: str) -> int:
    """GPUs in an AllocTRES value (`billing=64,cpu=64,gres/gpu=8,mem=512G,node=1`): the
    untyped gres/gpu count, else the sum of typed ones (`gres/gpu:a100=8`); 0 for none."""
    untyped, typed = None, 0
    for item in filter(None, (t.strip() for t in tres.split(","))):
        if "=" not in item:
            raise ParseError(f"not a TRES item {item!r}", "name=count items, e.g. gres/gpu=8")
        if not item.startswith("gres/gpu"):
            continue
        m = _TRES.match(item)
        if m is None:
            raise ParseError(f"not a GPU count {item!r}", "gres/gpu=N or gres/gpu:TYPE=N")
        if m.group("type") is None:
            untyped = int(m.group("n"))
        else:
            typed += int(m.group("n"))
    return untyped if untyped is not None else typed


def state_of(text: str) -> str:
    """The job state without its detail (`CANCELLED by 1234` -> CANCELLED, `FAILED+` ...)."""
    word = text.strip().split(" ", 1)[0].rstrip("+")
    if word not in SLURM_STATES:
        raise ParseError(f"unknown job state {text!r}", ", ".join(SLURM_STATES))
    return word


def local_time(text: str, tz: tzinfo, *, after: datetime | None = None) -> datetime | None:
    """sacct's local `YYYY-MM-DDTHH:MM:SS` in `tz` -> UTC; None for Unknown/None. Of the two
    readings of a time in the hour a clock turns back, the first that is not before `after`."""
    if text.strip() in NO_TIME:
        return None
    try:  # the shape checked first: fromisoformat alone takes other shapes too
        if not _TIME.match(text.strip()):
            raise ValueError
        naive = datetime.fromisoformat(text.strip())  # strptime was most of the read
    except ValueError:
        raise ParseError(f"not a time {text!r}", "YYYY-MM-DDTHH:MM:SS, Unknown or None") from None
    offset = naive.replace(tzinfo=tz).utcoffset()
    if offset is not None and offset == naive.replace(tzinfo=tz, fold=1).utcoffset():
        return (naive - offset).replace(tzinfo=UTC)  # one reading: neither skipped nor repeated
    readings = [naive.replace(tzinfo=tz, fold=f).astimezone(UTC) for f in (0, 1)]
    for r in readings:  # a reading that does not come back to the same wall time never was
        if r.astimezone(tz).replace(tzinfo=None) != naive:
            raise ParseError(
                f"{text} does not exist in {tz} (the clock skipped that hour)",
                "a local time of the cluster's zone; is --tz right?",
            )
    candidates = sorted(set(readings))
    if after is not None:
        candidates = [r for r in candidates if r >= after] or candidates
    return candidates[0]


def read_sacct(path: Path, cluster: str | None, tz: tzinfo) -> pl.DataFrame:
    """One sacct file -> allocation rows (TRAINING_RUNS columns but x_LoadId)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable sacct file: {exc}", file=str(path)) from None
    lines = text.splitlines()
    if not lines:
        raise InputError("empty file", file=str(path), expected=f"a header line {FORMAT}")
    trailing = lines[0].endswith("|")
    header = _fields(lines[0], trailing)
    missing = [f for f in FIELDS if f not in header]
    if missing:
        raise InputError(
            "not sacct --parsable2 output with the fields a run needs",
            file=str(path),
            location="line 1",
            expected=f"a header with {FORMAT} (sacct --parsable2 --allocations --format=...)",
            found=f"missing {', '.join(missing)} in {lines[0][:120]!r}",
        )
    rows: list[dict] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        values = _fields(line, trailing)
        if len(values) != len(header):
            raise InputError(
                "malformed sacct line",
                file=str(path),
                location=f"line {number}",
                expected=f"{len(header)} |-separated fields as in the header",
                found=f"{len(values)} fields: {line[:120]!r}",
            )
        rec = dict(zip(header, values, strict=True))
        try:
            rows += _allocations(rec, cluster or rec.get("Cluster") or _stem(path), tz)
        except ParseError as exc:
            column = exc.column
            raise InputError(
                str(exc),
                file=str(path),
                location=f"line {number}, column {column}",
                expected=exc.expected,
                found=repr(rec.get(column, "")),
                hint="fix or remove the line and run again; nothing was stored",
            ) from None
        job = rec["JobID"]
        if "." not in job:
            if job in seen:
                raise InputError(
                    f"job {job} appears twice",
                    file=str(path),
                    location=f"lines {seen[job]} and {number}",
                    expected="one line per job (sacct --allocations, without --duplicates)",
                )
            seen[job] = number
    frame = pl.DataFrame(rows, schema={c.name: c.dtype for c in TRAINING_RUNS.columns[:-2]})
    return frame.with_columns(pl.lit(str(path)).alias("x_SourceFile"))


def _fields(line: str, trailing: bool) -> list[str]:
    if trailing and line.endswith("|"):
        line = line[:-1]
    return line.split("|")


def _stem(path: Path) -> str:
    return path.name.split(".", 1)[0]


def _allocations(rec: dict, cluster: str, tz: tzinfo) -> list[dict]:
    """A job line -> its allocation rows (none for a step, a pending or a GPU-less job)."""
    job = rec["JobID"].strip()
    if not job or "." in job:  # a step: --allocations leaves them out, we do too
        return []
    state = _checked(lambda: state_of(rec["State"]), "State")
    gpus = _checked(lambda: gpus_of(rec["AllocTRES"]), "AllocTRES")
    start = _checked(lambda: local_time(rec["Start"], tz), "Start")
    submit = _checked(lambda: local_time(rec["Submit"], tz), "Submit")
    end = _checked(lambda: local_time(rec["End"], tz, after=start), "End")
    if gpus == 0 or start is None:
        return []
    if end is not None and end < start:
        exc = ParseError(f"End {rec['End']} is before Start {rec['Start']}", "End >= Start")
        exc.column = "End"
        raise exc
    hosts = _checked(lambda: expand_hostlist(rec["NodeList"]), "NodeList")
    share, extra = divmod(gpus, len(hosts))
    return [
        {
            "source": SLURM,
            "cluster": cluster,
            "job_id": job,
            "name": rec["JobName"] or job,
            "team": rec["Account"] or None,
            "user": rec["User"] or None,
            "partition": rec["Partition"] or None,
            "state": state,
            "submit": submit,
            "start": start,
            "end": end,
            "host": host,
            "gpus": share + (1 if i < extra else 0),
            "gpu_index": None,
            "gpu_instance": None,
            "mig_profile": None,
            "mig_slices": None,
            "avg_active": None,
        }
        for i, host in enumerate(hosts)
        if share + (1 if i < extra else 0) > 0
    ]


def _checked(fn, column: str):
    """Run a field parser; its ParseError names the column."""
    try:
        return fn()
    except ParseError as exc:
        exc.column = column
        raise


def list_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
        elif p.is_file():
            out.append(p)
        else:
            raise InputError("no such file or folder", file=str(p))
    if not out:
        raise InputError("no sacct files found", file=", ".join(map(str, paths)))
    return out


def read_files(
    paths: list[Path], cluster: str | None, tz: str | None
) -> Iterator[tuple[SourceFile, pl.DataFrame]]:
    """Each file as (its record, its allocation rows); every file is checked before any
    is stored (the caller collects them all first)."""
    where = zone(tz)
    for path in list_files(paths):
        yield SourceFile.of(path), read_sacct(path, cluster, where)


def allocations(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The files' rows together, conformed to the contract (x_LoadId added by the store)."""
    frame = pl.concat(parts) if parts else pl.DataFrame(schema=TRAINING_RUNS.names[:-1])
    return conform(frame.lazy(), TRAINING_RUNS).drop("x_LoadId").collect()
