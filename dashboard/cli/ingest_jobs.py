"""`finops ingest jobs ...`: training runs (Slurm jobs, Kubernetes pods) into `training_runs`."""

from __future__ import annotations

from pathlib import Path

import click

from dashboard.cli.finops import App


def _store(app: App, source: str, target: str, build) -> None:
    """Load the allocations `build()` -> (files, rows, cluster) reads, then summarise."""
    import contextlib

    from ingest import pipeline
    from ingest.warehouse.load_contract import RunsLoad

    found: dict[str, int] = {}

    @contextlib.contextmanager
    def read():
        files, rows, cluster = build()
        found["runs"] = rows["job_id"].n_unique()
        yield [RunsLoad(source, cluster, rows, files, target)]

    outcome = pipeline.run(app.store(), app.settings, source, target, read, dataset="training_runs")
    results = outcome.of("training_runs")
    if not results:
        app.console.print("No GPU runs found (jobs without GPUs or a start are left out).")
        return
    for r in results:
        app.console.print(
            f"{r.source} {r.billing_account}: {found['runs']:,} GPU runs "
            f"({r.rows:,} allocation rows, {r.billing_period}): {r.status} (v{r.table_version})"
        )


@click.group()
def group() -> None:
    """Load training runs: Slurm accounting (sacct) and Kubernetes pods on GPUs (DCGM)."""


@group.command("slurm")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--cluster", help="Cluster name (default: the Cluster column, else the file name).")
@click.option(
    "--tz",
    help="Zone of the cluster's clock (sacct prints local time), e.g. America/New_York.",
)
@click.pass_obj
def slurm(app: App, files: tuple[Path, ...], cluster: str | None, tz: str | None) -> None:
    """sacct --parsable2 --allocations output with JobID,JobName,Account,User,Partition,
    Submit,Start,End,State,AllocTRES,NodeList (files or folders)."""
    from ingest.sources import slurm as sacct
    from models.errors import InputError

    def build():
        records, parts = [], []
        for record, rows in sacct.read_files(list(files), cluster, tz):
            records.append(record)
            parts.append(rows)
        rows = sacct.allocations(parts)
        clusters = sorted(set(rows["cluster"]))
        if len(clusters) > 1:
            raise InputError(
                f"the files hold jobs of {len(clusters)} clusters: {', '.join(clusters)}",
                expected="one cluster per ingest",
                hint="give --cluster NAME, or ingest each cluster's files separately",
            )
        return records, rows, clusters[0] if clusters else (cluster or "slurm")

    _store(app, "slurm", " ".join(map(str, files)), build)


@group.command("kubernetes")
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--cluster", required=True, help="Cluster name, e.g. the EKS/AKS/GKE cluster.")
@click.option(
    "--job-label",
    default="job-name",
    show_default=True,
    help="Pod label that groups pods into one run (a Job's pods carry job-name).",
)
@click.pass_obj
def kubernetes(app: App, target: Path, cluster: str, job_label: str) -> None:
    """DCGM exporter series with pod labels: saved Prometheus query_range answers (*.json,
    *.json.gz) of DCGM_FI_PROF_GR_ENGINE_ACTIVE or DCGM_FI_DEV_GPU_UTIL."""
    from ingest.sources import kubernetes_jobs

    def build():
        files, rows = kubernetes_jobs.read_answers(target, cluster, job_label)
        return files, rows, cluster

    _store(app, "kubernetes", str(target), build)
