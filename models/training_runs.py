"""Training runs: the `training_runs` contract, MIG slices, and a run's GPU-hours and cost.

A run is a job of a scheduler (a Slurm job, a Kubernetes Job's pods) that held GPUs for a
while. The warehouse keeps its *allocations*, one row per host (Slurm: the GPUs its
AllocTRES gives on each node of its NodeList) or per GPU, MIG slice and hour (Kubernetes:
the pods the DCGM exporter saw on a GPU); `RUN_COSTS_SQL` turns them, with `gpu_hours`,
into one row per run:

- GPU-hours: the allocation's GPUs x the length of [start, end), in GPUs (a MIG slice is
  `mig_slices` / 7 of its GPU), whether or not billing saw those GPUs.
- Cost: its share of each billed GPU-hour it overlaps, matched by host (the first label of
  the name, so `gpu-node-01` meets `gpu-node-01.site.example`) and, where known, GPU index;
  a Slurm allocation of n of a node's N GPUs takes n/N of each of the node's GPU-hours
  (sacct does not say which GPUs). Money stays Decimal and in the GPU-hours' currency.
- Mean activity: GPU-hour weighted, from the allocation's own samples when it has them (a
  MIG slice, a pod) else from the GPU-hour's telemetry; unmonitored hours count in neither.
- Idle GPU-hours: monitored hours that are idle by the one rule of models.idle (the
  GPU-hour's state, or `idle_sql` on the allocation's own activity).

A run still running (no end) is counted up to the last hour the warehouse has GPU-hours for.
"""

from __future__ import annotations

import re

from models.idle import IDLE_IN_SQL, MONEY_SQL, UNMONITORED, idle_sql
from models.schema import Column, Table

SLURM, KUBERNETES = "slurm", "kubernetes"
MIG_SLICES_PER_GPU = 7  # compute slices of an A100/H100/H200/B200: 1g.10gb = 1/7 of the GPU

# Slurm's job states (sacct(1) JOB STATE CODES); "CANCELLED by 1234" is CANCELLED.
SLURM_STATES = (
    "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
    "OUT_OF_MEMORY", "PENDING", "PREEMPTED", "RUNNING", "REQUEUED", "RESIZING", "REVOKED",
    "SUSPENDED", "TIMEOUT",
)  # fmt: skip
OBSERVED = "OBSERVED"  # a Kubernetes run: seen in telemetry, its outcome is not
STATES = (*SLURM_STATES, OBSERVED)

TRAINING_RUNS = Table(
    "training_runs",
    (
        Column("source", "string", False, allowed=(SLURM, KUBERNETES)),
        Column("cluster", "string", False),
        Column("job_id", "string", False, doc="Slurm JobID; Kubernetes namespace/job"),
        Column("name", "string", False),
        Column("team", "string", doc="Slurm Account; Kubernetes namespace"),
        Column("user", "string"),
        Column("partition", "string"),
        Column("state", "string", False, allowed=STATES),
        Column("submit", "datetime"),
        Column("start", "datetime", False),
        Column("end", "datetime", doc="exclusive; null while the run is running"),
        Column("host", "string", False, doc="node name as the scheduler reports it"),
        Column("gpus", "int", False, doc="GPUs (or MIG slices' instances) held on the host"),
        Column("gpu_index", "int", doc="the GPU, where the source says (Kubernetes)"),
        Column("gpu_instance", "int", doc="MIG GPU_I_ID"),
        Column("mig_profile", "string", doc="MIG GPU_I_PROFILE, e.g. 1g.10gb"),
        Column("mig_slices", "int", doc="compute slices of the MIG profile (of 7)"),
        Column("avg_active", "float", doc="the allocation's own mean activity 0-1, if measured"),
        Column("x_SourceFile", "string"),
        Column("x_LoadId", "string", False),
    ),
)

RUN_COSTS = Table(
    "run_costs",
    (
        Column("source", "string", False),
        Column("cluster", "string", False),
        Column("job_id", "string", False),
        Column("name", "string", False),
        Column("team", "string"),
        Column("user", "string"),
        Column("state", "string", False),
        Column("start", "datetime", False),
        Column("end", "datetime", doc="null: still running"),
        Column("gpus", "float", False, doc="GPUs held at once (slices as fractions)"),
        Column("gpu_hours", "float", False),
        Column("priced_gpu_hours", "float", False, doc="GPU-hours billing has a cost for"),
        Column("cost", "decimal", doc="null when no GPU-hour was priced"),
        Column("currency", "string"),
        Column("mean_active", "float", doc="0-1 over monitored GPU-hours"),
        Column("idle_gpu_hours", "float", False),
        Column("unmonitored_gpu_hours", "float", False),
    ),
)

_MIG_PROFILE = re.compile(r"^(?P<slices>[1-7])g\.\d+gb(\+[a-z]+)*$")


def mig_slices(profile: str) -> int | None:
    """Compute slices of a MIG profile name (`1g.10gb` -> 1, `3g.40gb` -> 3, `1g.10gb+me`
    -> 1), as NVIDIA names them: the number before `g` is the slices of 7; None if the
    name is not a MIG profile."""
    m = _MIG_PROFILE.match(profile.strip().lower())
    if m is None:
        return None
    slices = int(m.group("slices"))
    return slices if slices in (1, 2, 3, 4, 7) else None


def run_costs_sql(runs: str, hours: str, idle_below: str = "$idle_below") -> str:
    """RUN_COSTS rows from allocations `runs` (TRAINING_RUNS columns) and `hours`
    (gpu_hours columns), both SQL relations; `idle_below` is SQL for the idle threshold
    applied to an allocation's own activity (a bound parameter)."""
    key = "source, cluster, job_id"
    own_idle = idle_sql(idle_below, "_own")
    n = MIG_SLICES_PER_GPU
    return f"""
WITH a AS (
  SELECT *, lower(split_part(host, '.', 1)) AS _node,
         coalesce("end", (SELECT max(hour) + INTERVAL 1 HOUR FROM ({hours})), start) AS _end,
         gpus * coalesce(mig_slices, {n}) AS _sevenths,
         avg_active AS _own
  FROM ({runs})
), ah AS (  -- each allocation's hours, so that GPU-hours are met by an equality join
  SELECT *, unnest(range(CAST(floor(epoch(start) / 3600) AS BIGINT),
                         CAST(ceil(epoch(_end) / 3600) AS BIGINT))) AS _hk
  FROM a WHERE _end > start
), h AS (
  SELECT cost, currency, state, avg_active, lower(split_part(host, '.', 1)) AS _node,
         gpu_index, CAST(epoch(hour) // 3600 AS BIGINT) AS _hk,
         count(*) OVER (PARTITION BY resource_id, hour) AS _node_gpus
  FROM ({hours})
  WHERE lower(split_part(host, '.', 1)) IN (SELECT _node FROM a)
), j AS (
  SELECT ah.source, ah.cluster, ah.job_id, ah._own, h.cost, h.currency, h.state,
         h.avg_active, h._hk IS NOT NULL AS _priced,
         epoch(least(ah._end, make_timestamptz((ah._hk + 1) * 3600 * 1000000))
               - greatest(ah.start, make_timestamptz(ah._hk * 3600 * 1000000))) / 3600
         * CASE WHEN h._hk IS NULL THEN ah._sevenths / {n}
                WHEN ah.gpu_index IS NULL THEN ah._sevenths / ({n} * h._node_gpus)
                ELSE coalesce(ah.mig_slices, {n}) / {n} END AS _w
  FROM ah LEFT JOIN h ON h._node = ah._node AND h._hk = ah._hk
       AND (ah.gpu_index IS NULL OR ah.gpu_index = h.gpu_index)
), used AS (
  SELECT {key},
         sum(_w) FILTER (WHERE _priced) AS priced,
         sum(cost * CAST(_w AS {MONEY_SQL})) FILTER (WHERE _priced) AS cost,
         min(currency) AS currency, count(DISTINCT currency) AS currencies,
         sum(_w * coalesce(_own, CASE WHEN state <> '{UNMONITORED}' THEN avg_active END))
           / sum(_w) FILTER (WHERE _own IS NOT NULL OR state <> '{UNMONITORED}') AS mean_active,
         sum(_w) FILTER (WHERE CASE WHEN _own IS NOT NULL THEN {own_idle}
                                    ELSE coalesce(state IN {IDLE_IN_SQL}, false) END) AS idle,
         sum(_w) FILTER (WHERE _own IS NOT NULL OR state <> '{UNMONITORED}') AS monitored
  FROM j WHERE _priced OR _own IS NOT NULL GROUP BY {key}
), units AS (
  SELECT {key}, host, gpu_index, gpu_instance, max(_sevenths) AS _sevenths
  FROM a GROUP BY ALL
), held AS (
  SELECT {key}, sum(_sevenths) / {n} AS gpus FROM units GROUP BY {key}
), runs AS (
  SELECT {key}, any_value(name) AS name, any_value(team) AS team, any_value("user") AS "user",
         any_value(state) AS state, min(start) AS start,
         CASE WHEN bool_and("end" IS NOT NULL) THEN max("end") END AS "end",
         sum(epoch(_end - start) / 3600 * _sevenths / {n}) AS gpu_hours
  FROM a GROUP BY {key}
)
SELECT r.source, r.cluster, r.job_id, r.name, r.team, r."user", r.state, r.start, r."end",
       held.gpus::DOUBLE AS gpus, r.gpu_hours::DOUBLE AS gpu_hours,
       coalesce(u.priced, 0)::DOUBLE AS priced_gpu_hours,
       CASE WHEN u.currencies = 1 THEN u.cost::{MONEY_SQL} END AS cost,
       CASE WHEN u.currencies = 1 THEN u.currency
            WHEN u.currencies > 1 THEN 'mixed' END AS currency,
       u.mean_active::DOUBLE AS mean_active,
       coalesce(u.idle, 0)::DOUBLE AS idle_gpu_hours,
       greatest(r.gpu_hours - coalesce(u.monitored, 0), 0)::DOUBLE AS unmonitored_gpu_hours
FROM runs r JOIN held USING ({key}) LEFT JOIN used u USING ({key})
"""
