"""The CLI's views of stored jobs, as a user runs them: `jobs describe --summarize`, `jobs list`
with filters, `jobs plot`; real processes over a real store."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT
from tests.views.conftest import record_job
from tf_hptune.store import State, open_store
from tf_hptune.study import Study
from tf_hptune.views.table import COLUMNS


def cli(*args: str, code: str | None = None, check: int | None = 0):
    argv = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m",
                                                              "tf_hptune.cli", *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT)
    if check is not None:
        assert proc.returncode == check, proc.stdout + proc.stderr
    return proc


@pytest.fixture
def stored_job(tmp_path):
    return record_job(tmp_path)


@pytest.fixture
def store_of_jobs(tmp_path):
    """``views_job`` (RUNNING) and three more jobs in other states, oldest first."""
    stored = record_job(tmp_path)
    with open_store(stored.store_path) as store:
        for name, state in (("other_a", State.SUCCEEDED), ("other_b", State.FAILED),
                            ("views_job_2", State.SUCCEEDED)):
            study = Study.create(stored.job.config, store=store, name=name)
            study.finish(state)
    return stored


def test_describe_summarize_prints_the_trials_best_first(stored_job):
    out = cli("jobs", "describe", stored_job.name, "--summarize", "--store",
              stored_job.store_path).stdout.splitlines()
    assert out[0] == "Job [views_job] RUNNING: minimize loss, 7 trials, best first"
    assert out[1].split()[0] == "TRIAL" and "loss" in out[1].split()
    assert [line.split()[0] for line in out[2:]] == ["5", "2", "1", "3", "4", "6", "7"]

    as_json = json.loads(cli("jobs", "describe", stored_job.name, "--summarize", "--format",
                             "json", "--store", stored_job.store_path).stdout)
    assert (as_json["jobId"], as_json["goal"], as_json["hyperparameterMetricTag"]) == (
        "views_job", "MINIMIZE", "loss")
    assert [r["trial_id"] for r in as_json["trials"]] == ["5", "2", "1", "3", "4", "6", "7"]
    assert all(tuple(r) == COLUMNS for r in as_json["trials"])
    as_yaml = yaml.safe_load(cli("jobs", "describe", stored_job.name, "--summarize",
                                 "--format", "yaml", "--store", stored_job.store_path).stdout)
    assert as_yaml == as_json

    refused = cli("jobs", "describe", stored_job.name, "--format", "table", "--store",
                  stored_job.store_path, check=2)
    assert "--format table needs --summarize" in refused.stderr


def test_list_filters_by_state_and_name_prefix(store_of_jobs):
    store = store_of_jobs.store_path

    def listed(*flags: str) -> list[tuple[str, str]]:
        rows = json.loads(cli("jobs", "list", "--format", "json", "--store", store,
                              *flags).stdout)
        return [(r["jobId"], r["state"]) for r in rows]

    assert listed() == [("views_job_2", "SUCCEEDED"), ("other_b", "FAILED"),
                        ("other_a", "SUCCEEDED"), ("views_job", "RUNNING")]
    assert listed("--state", "succeeded") == [("views_job_2", "SUCCEEDED"),
                                              ("other_a", "SUCCEEDED")]
    assert listed("--state", "FAILED", "--state", "RUNNING") == [("other_b", "FAILED"),
                                                                 ("views_job", "RUNNING")]
    assert listed("--name-prefix", "views_") == [("views_job_2", "SUCCEEDED"),
                                                 ("views_job", "RUNNING")]
    assert listed("--name-prefix", "views_", "--state", "RUNNING") == [("views_job", "RUNNING")]
    table = cli("jobs", "list", "--name-prefix", "other", "--store", store).stdout.splitlines()
    assert [line.split()[:2] for line in table[1:]] == [["other_b", "FAILED"],
                                                        ["other_a", "SUCCEEDED"]]


def test_plot_without_matplotlib_names_the_extra(stored_job, tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None; from tf_hptune.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    proc = cli("jobs", "plot", stored_job.name, "-o", str(tmp_path / "r.png"), "--store",
               stored_job.store_path, code=code, check=1)
    assert "pip install 'tf-hptune[plot]'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r.png").exists()


def test_plot_writes_the_report(stored_job, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "report.png"
    proc = cli("jobs", "plot", stored_job.name, "-o", str(path), "--store",
               stored_job.store_path)
    assert proc.stdout.strip() == f"Wrote {path}"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for bad, why in ((tmp_path / "nowhere" / "r.png", "does not exist"),
                     (tmp_path / "r.docx", "must end in one of")):
        proc = cli("jobs", "plot", stored_job.name, "-o", str(bad), "--store",
                   stored_job.store_path, check=2)
        assert why in proc.stderr and "Traceback" not in proc.stderr
