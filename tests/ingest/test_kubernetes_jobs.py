"""DCGM series with pod labels -> Kubernetes runs: pods grouped by the job label, MIG slices
as fractions with their own activity, and bad series refused with nothing stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dashboard.cli.finops import main
from ingest.sources.kubernetes_jobs import label_names, read_answers
from ingest.warehouse.connection import connect, versions

T0 = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp())
GR = "DCGM_FI_PROF_GR_ENGINE_ACTIVE"


def series(pod: str, gpu: int, values: list[float], name: str = GR, **labels: str) -> dict:
    metric = {"__name__": name, "Hostname": "node-1", "gpu": str(gpu), "namespace": "ml",
              "pod": pod, "container": "trainer", **labels}  # fmt: skip
    return {
        "metric": metric,
        "values": [[T0 + 1800 + 3600 * i, str(v)] for i, v in enumerate(values)],
    }


def answer(path: Path, *items: dict) -> Path:
    data = {"resultType": "matrix", "result": list(items)}
    path.write_text(json.dumps({"status": "success", "data": data}))
    return path


def test_pods_of_one_job_are_one_run_and_mig_slices_are_fractions(tmp_path: Path) -> None:
    f = answer(
        tmp_path / "a.json",
        series("train-a-x1", 0, [0.9, 0.8], job_name="train-a"),
        series("train-a-x2", 1, [0.7, 0.6], job_name="train-a"),
        series("ft-b", 2, [0.5], GPU_I_ID="9", GPU_I_PROFILE="1g.10gb"),
        series("", 3, [0.0]),  # a GPU no pod holds
        series("train-a-x1", 0, [90, 10], name="DCGM_FI_DEV_GPU_UTIL", job_name="train-a"),
    )
    files, rows = read_answers(f, "k1", "job-name")
    assert [r.path for r in files] == [str(f)]
    got = sorted(rows.select("job_id", "gpu_index", "mig_slices", "avg_active").rows())
    assert got == [
        ("ml/ft-b", 2, 1, 0.5),
        ("ml/train-a", 0, None, 0.8),  # GR_ENGINE_ACTIVE wins over GPU_UTIL
        ("ml/train-a", 0, None, 0.9),
        ("ml/train-a", 1, None, 0.6),
        ("ml/train-a", 1, None, 0.7),
    ]


def test_job_label_names() -> None:
    assert label_names("job-name") == ("job-name", "job_name", "label_job_name")


def ingest(root: Path, target: Path) -> int:
    return main(["--warehouse", str(root), "ingest", "jobs", "kubernetes", str(target),
                 "--cluster", "k1"])  # fmt: skip


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (series("p", 0, [0.5], GPU_I_ID="9", GPU_I_PROFILE="9g.99gb"), "not a MIG slice"),
        (series("p", 0, [0.5], GPU_I_PROFILE="1g.10gb"), "not a MIG slice"),
        (series("p", 0, [1.5]), "outside 0-100%"),
        (series("p", 0, [0.5], name="DCGM_FI_DEV_FB_USED"), "not a DCGM activity metric"),
        ({"metric": {"__name__": GR, "pod": "p", "namespace": "ml"}, "values": []},
         "series without its GPU"),
    ],
)  # fmt: skip
def test_bad_series_give_one_message_and_store_nothing(
    bad: dict, message: str, tmp_path: Path, capsys
) -> None:
    root = tmp_path / "w"
    assert ingest(root, answer(tmp_path / "good.json", series("p0", 0, [0.4]))) == 0
    before = versions(root)
    capsys.readouterr()
    assert ingest(root, answer(tmp_path / "bad.json", series("p0", 0, [0.4]), bad)) == 2
    err = capsys.readouterr().err
    assert message in err and "bad.json" in err, err
    assert versions(root)["training_runs"] == before["training_runs"]
    assert connect(root).sql("select job_id, avg_active from training_runs").fetchall() == [
        ("ml/p0", 0.4)
    ]
