"""The CLI as a user runs it: real processes, real store, the fake trainer."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import yaml

from tests.conftest import FAKE_PACKAGE, ROOT
from tf_hptune.store import State, open_store

CONFIG = """
trainingInput:
  scaleTier: BASIC_GPU
  hyperparameters:
    goal: MINIMIZE
    hyperparameterMetricTag: loss
    maxTrials: {max_trials}
    maxParallelTrials: 2
    params:
    - parameterName: a
      type: INTEGER
      minValue: 1
      maxValue: 5
    - parameterName: opt
      type: CATEGORICAL
      categoricalValues: [adam, "s g d"]
"""


def cli(*args, env_extra=None, timeout=120, check=None):
    env = dict(os.environ, **(env_extra or {}))
    proc = subprocess.run([sys.executable, "-m", "tf_hptune.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)
    if check is not None:
        assert proc.returncode == check, proc.stdout + proc.stderr
    return proc


@pytest.fixture
def job(tmp_path):
    def make(max_trials=3, name="job_1"):
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(CONFIG.format(max_trials=max_trials))
        store = str(tmp_path / "store.db")
        base = ["--config", str(cfg), "--module-name", "trainer.task",
                "--package-path", str(FAKE_PACKAGE), "--job-dir", str(tmp_path / name),
                "--store", store, "--poll-interval", "0.05"]
        return store, base
    return make


def test_importing_the_cli_does_not_import_tensorflow():
    code = ("import sys, tf_hptune.cli, tf_hptune.tuner, tf_hptune.channel.events; "
            "print([m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_submit_in_foreground_then_describe_list_and_logs(job, tmp_path):
    store, base = job()
    proc = cli("jobs", "submit", "training", "job_1", *base, "--stream-logs", "--",
               "--steps", "2", check=0)
    assert "Job [job_1] submitted successfully." in proc.stdout
    assert "Job [job_1] ended: SUCCEEDED" in proc.stdout
    assert "fake trainer starting" in proc.stdout  # trial logs streamed
    assert "3/3 done" in proc.stderr  # the progress line
    assert "Ignoring trainingInput keys with no local meaning: scaleTier" in proc.stderr
    assert proc.stdout.rstrip().splitlines()[-1].startswith("trialId:") or \
        "Best trial:" in proc.stdout

    described = yaml.safe_load(cli("jobs", "describe", "job_1", "--store", store,
                                   check=0).stdout)
    assert described["jobId"] == "job_1" and described["state"] == "SUCCEEDED"
    out = described["trainingOutput"]
    assert out["isHyperparameterTuningJob"] is True
    assert out["hyperparameterMetricTag"] == "loss"
    assert out["completedTrialCount"] == "3"
    values = [t["finalMetric"]["objectiveValue"] for t in out["trials"]]
    assert values == sorted(values)  # best first for MINIMIZE
    first = out["trials"][0]
    assert set(first["hyperparameters"]) == {"a", "opt"}
    assert all(isinstance(v, str) for v in first["hyperparameters"].values())
    assert first["finalMetric"]["trainingStep"] == "200"
    assert [m["trainingStep"] for m in first["allMetrics"]] == ["100", "200"]
    assert first["state"] == "SUCCEEDED" and first["isTrialStoppedEarly"] is False
    assert described["trainingInput"]["args"] == ["--steps", "2"]

    as_json = json.loads(cli("jobs", "describe", "job_1", "--store", store, "--format", "json",
                             check=0).stdout)
    assert as_json["trainingOutput"]["trials"] == out["trials"]

    listed = cli("jobs", "list", "--store", store, check=0).stdout
    assert "job_1" in listed and "SUCCEEDED" in listed

    logs = cli("jobs", "stream-logs", "job_1", "--store", store, check=0).stdout.splitlines()
    assert any(line.split()[0] == "1" and "fake trainer starting" in line for line in logs)
    assert {line.split()[0] for line in logs} == {"1", "2", "3"}


def test_bad_config_runs_nothing(job, tmp_path):
    store, base = job()
    bad = tmp_path / "bad.yaml"
    bad.write_text("hyperparameters:\n  maxParalelTrials: 2\n  params: []\n")
    i = base.index("--config")
    base[i + 1] = str(bad)
    proc = cli("jobs", "submit", "training", "job_1", *base, "--stream-logs", check=2)
    assert "did you mean maxParallelTrials?" in proc.stderr
    assert not (tmp_path / "job_1").exists()
    assert open_store(store).list_jobs() == []


@pytest.mark.parametrize("name", ["1job", "job-1", "job 1", ""])
def test_bad_job_names(job, name):
    _, base = job()
    proc = cli("jobs", "submit", "training", name, *base, check=2)
    assert "job name" in proc.stderr and repr(name) in proc.stderr


def test_duplicate_job_name_is_refused(job):
    store, base = job(max_trials=1)
    cli("jobs", "submit", "training", "job_1", *base, "--stream-logs", check=0)
    proc = cli("jobs", "submit", "training", "job_1", *base, "--stream-logs", check=1)
    assert "already exists" in proc.stderr


def test_failed_job_exits_non_zero(job):
    store, base = job()
    proc = cli("jobs", "submit", "training", "job_1", *base, "--stream-logs", "--",
               "--mode", "crash", check=1)
    assert "ended: FAILED" in proc.stdout
    described = yaml.safe_load(cli("jobs", "describe", "job_1", "--store", store).stdout)
    assert described["state"] == "FAILED" and "exited with code 3" in described["errorMessage"]
    # whichever parallel trial crashed first failed the job; the other may have been cancelled
    trial = next(t for t in described["trainingOutput"]["trials"] if t["state"] == "FAILED")
    assert trial["errorMessage"] == "exited with code 3"
    assert "something went wrong" in trial["logTail"]


def test_background_submit_then_cancel(job, tmp_path):
    store, base = job(max_trials=4)
    proc = cli("jobs", "submit", "training", "job_1", *base, "--", "--mode", "hang", check=0)
    assert "jobs describe job_1" in proc.stdout and "state: QUEUED" in proc.stdout
    s = open_store(store)
    deadline = time.monotonic() + 30
    while sum(t.state is State.RUNNING for t in s.list_trials("job_1")) < 2:
        assert time.monotonic() < deadline, (tmp_path / "job_1" / "tf_hptune" /
                                             "tuner.log").read_text()
        time.sleep(0.1)
    pids = [t.pid for t in s.list_trials("job_1")]
    proc = cli("jobs", "cancel", "job_1", "--store", store, check=0)
    assert "CANCELLING" in proc.stdout and "CANCELLED" in proc.stdout
    assert s.get_job("job_1").state is State.CANCELLED
    assert all(t.state is State.CANCELLED for t in s.list_trials("job_1"))
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    proc = cli("jobs", "cancel", "job_1", "--store", store, check=2)
    assert "already ended: CANCELLED" in proc.stderr


def test_unknown_job(tmp_path):
    open_store(tmp_path / "s.db").close()
    proc = cli("jobs", "describe", "nope", "--store", str(tmp_path / "s.db"), check=1)
    assert "nope" in proc.stderr


@pytest.mark.parametrize("command", [["list"], ["describe", "job_1"], ["stream-logs", "job_1"]])
def test_reading_a_store_that_does_not_exist_is_an_error_and_creates_nothing(tmp_path,
                                                                             command):
    store = tmp_path / "typo" / "s.db"
    proc = cli("jobs", *command, "--store", str(store), check=1)
    assert f"no store at {store}" in proc.stderr
    assert not (tmp_path / "typo").exists()


def test_list_and_describe_read_a_store_on_a_read_only_mount(job, tmp_path):
    store, base = job(max_trials=1)
    cli("jobs", "submit", "training", "job_1", *base, "--wait", check=0)
    directory = os.path.dirname(store)
    read = [f"{sys.executable} -m tf_hptune.cli jobs {c} --store {store}"
            for c in ("list", "describe job_1")]
    script = (f"mount --bind {directory} {directory} && "
              f"mount -o remount,bind,ro {directory} {directory} && "
              f"! touch {directory}/probe 2>/dev/null && " + " && ".join(read))
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    if proc.returncode and proc.stderr.startswith(("mount:", "unshare:")):
        pytest.skip(f"cannot mount read-only here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    assert "job_1" in proc.stdout and "state: SUCCEEDED" in proc.stdout


def test_missing_module_name_is_a_usage_error(job):
    _, base = job()
    i = base.index("--module-name")
    del base[i:i + 2]
    proc = cli("jobs", "submit", "training", "job_1", *base, check=2)
    assert "--module-name" in proc.stderr


def test_default_store_is_under_tf_hptune_home(job, tmp_path):
    _, base = job(max_trials=1)
    i = base.index("--store")
    del base[i:i + 2]
    home = tmp_path / "home"
    cli("jobs", "submit", "training", "job_1", *base, "--stream-logs",
        env_extra={"TF_HPTUNE_HOME": str(home)}, check=0)
    assert (home / "store.db").exists()
    listed = cli("jobs", "list", env_extra={"TF_HPTUNE_HOME": str(home)}, check=0).stdout
    assert "job_1" in listed


def test_the_early_stopping_rule_is_chosen_on_the_command_line(job):
    store, base = job(max_trials=1)
    cli("jobs", "submit", "training", "job_1", *base, "--early-stopping-rule", "median",
        "--stream-logs", check=0)
    described = yaml.safe_load(cli("jobs", "describe", "job_1", "--store", store).stdout)
    assert described["trainingInput"]["hyperparameters"]["earlyStoppingRule"] == "median"
    proc = cli("jobs", "submit", "training", "job_2", *base, "--early-stopping-rule", "nope",
               check=2)
    assert "invalid choice: 'nope'" in proc.stderr and "median" in proc.stderr


def test_cancelling_a_job_whose_tuner_is_gone_kills_its_trials_through_the_launcher(job):
    from tf_hptune import jobs
    from tf_hptune.launch import pid_alive

    store, base = job(max_trials=2)
    cli("jobs", "submit", "training", "job_1", *base, "--", "--mode", "hang", check=0)
    s = open_store(store)
    deadline = time.monotonic() + 30
    while sum(t.state is State.RUNNING for t in s.list_trials("job_1")) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    tuner = s.get_job("job_1").tuner_pid
    os.kill(tuner, 9)  # the tuner dies; its trials run on in their own groups
    while jobs.tuner_alive(s.get_job("job_1")):
        time.sleep(0.05)
    trials = s.list_trials("job_1")
    assert all(pid_alive(t.pid) for t in trials)
    proc = cli("jobs", "cancel", "job_1", "--store", store, check=0)
    assert "CANCELLED" in proc.stdout
    deadline = time.monotonic() + 10
    while any(pid_alive(t.pid) for t in trials):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert all(t.state is State.CANCELLED for t in s.list_trials("job_1"))


def test_the_gcloud_flags_users_type_are_accepted(job):
    store, base = job(max_trials=1)
    flags = ["--region", "us-central1", "--scale-tier", "BASIC_GPU", "--master-machine-type",
             "n1-standard-8", "--staging-bucket", "gs://b", "--python-version", "3.7",
             "--runtime-version", "2.11", "--labels", "team=a,env=b", "--packages", "x.tar.gz"]
    proc = cli("jobs", "submit", "training", "job_1", *base, *flags, "--wait", check=0)
    said = [line for line in proc.stderr.splitlines() if "no local meaning" in line]
    assert len(said) == 2 and said[1] == (
        "Ignoring flags with no local meaning: --region, --scale-tier, --master-machine-type, "
        "--staging-bucket, --python-version, --labels, --packages")
    described = yaml.safe_load(cli("jobs", "describe", "job_1", "--store", store).stdout)
    assert described["trainingInput"]["runtimeVersion"] == "2.11"
    base[base.index("--job-dir") + 1] += "_2"  # each job its own job dir
    proc = cli("jobs", "submit", "training", "job_2", *base, "--async", check=0)
    assert "Your job is still active" in proc.stdout
    proc = cli("jobs", "submit", "training", "job_3", *base, "--async", "--stream-logs", check=2)
    assert "not allowed with argument" in proc.stderr


def test_version_usage_and_plain_help():
    from tf_hptune.version import __version__

    assert cli("--version", check=0).stdout.strip() == f"tf-hptune {__version__}"
    bare = cli(check=2)
    assert "usage: tf-hptune" in bare.stderr and "jobs" in bare.stderr
    for args in ([], ["jobs"], ["jobs", "submit", "training"], ["jobs", "describe"],
                 ["jobs", "list"], ["jobs", "cancel"], ["jobs", "resume"],
                 ["jobs", "stream-logs"]):
        text = cli(*args, "--help", check=0).stdout
        assert "`" not in text, args
    text = cli("jobs", "submit", "training", "--help", check=0).stdout
    assert "examples:" in text and "tf-hptune jobs submit training babyweight_1" in text


def test_piping_into_head_ends_quietly(job, tmp_path):
    store, base = job(max_trials=3)
    cli("jobs", "submit", "training", "job_1", *base, "--wait", "--", "--steps", "40", check=0)
    proc = subprocess.run(
        f"{sys.executable} -m tf_hptune.cli jobs describe job_1 --store {store} | head -1",
        shell=True, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.stdout.startswith("jobId") and "Traceback" not in proc.stderr
    assert "BrokenPipe" not in proc.stderr


def test_a_taken_job_name_suggests_resuming_or_a_new_name(job):
    store, base = job(max_trials=1)
    cli("jobs", "submit", "training", "job_1", *base, "--wait", check=0)
    proc = cli("jobs", "submit", "training", "job_1", *base, "--wait", check=1)
    assert "another name" in proc.stderr and "resumePreviousJobId: job_1" in proc.stderr


def test_failure_reasons_quote_the_trainers_own_error(job):
    store, base = job(max_trials=1)
    cli("jobs", "submit", "training", "job_1", *base, "--wait", "--", "--mode", "raise",
        check=1)
    described = yaml.safe_load(cli("jobs", "describe", "job_1", "--store", store).stdout)
    (trial,) = described["trainingOutput"]["trials"]
    expected = "RuntimeError: distinctive failure of trial 1"
    assert trial["errorMessage"] == f"exited with code 1: {expected}"
    assert expected in described["errorMessage"] and "trial 1:" in described["errorMessage"]
    _, base = job(max_trials=1, name="job_2")
    cli("jobs", "submit", "training", "job_2", *base, "--wait", "--", "--bogus", "3",
        "--mode", "strict", check=1)
    described = yaml.safe_load(cli("jobs", "describe", "job_2", "--store", store).stdout)
    (trial,) = described["trainingOutput"]["trials"]
    assert trial["errorMessage"] == ("exited with code 2: task.py: error: unrecognized "
                                     "arguments: --bogus 3")


def test_a_metric_under_another_tag_is_named(job):
    store, base = job(max_trials=1)
    proc = cli("jobs", "submit", "training", "job_1", *base, "--wait", "--", "--mode",
               "wrongtag", check=1)
    described = yaml.safe_load(cli("jobs", "describe", "job_1", "--store", store).stdout)
    (trial,) = described["trainingOutput"]["trials"]
    assert trial["errorMessage"] == ("no value of metric 'loss' was reported; the trial wrote "
                                     "'val_accuracy'")
    assert "trial 1 FAILED: no value of metric 'loss'" in proc.stdout  # the trial's line


def test_a_module_that_is_not_there_is_refused_before_anything_runs(job, tmp_path):
    store, base = job()
    i = base.index("--module-name")
    base[i + 1] = "trainer.tsak"
    proc = cli("jobs", "submit", "training", "job_1", *base, "--wait", check=2)
    assert "--module-name 'trainer.tsak'" in proc.stderr and "'trainer.task'" in proc.stderr
    assert open_store(store).list_jobs() == []


def test_wait_shows_progress_and_each_trials_result_not_its_output(job):
    store, base = job(max_trials=2)
    proc = cli("jobs", "submit", "training", "job_1", *base, "--wait", "--", "--steps", "2",
               check=0)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("trial ")]
    assert len(lines) == 2 and all(" SUCCEEDED: loss=" in line for line in lines)
    assert "fake trainer starting" not in proc.stdout + proc.stderr
    assert "\x1b[" not in proc.stderr  # piped: plain lines


def test_ctrl_c_in_the_foreground_shows_cancelling_and_the_best_trial_so_far(job):
    store, base = job(max_trials=2)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tf_hptune.cli", "jobs", "submit", "training", "job_1", *base,
         "--wait", "--grace", "2", "--", "--mode", "lastwords"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    s = open_store(store)
    deadline = time.monotonic() + 60
    while not (len(s.list_jobs()) and sum(bool(t.measurements)
                                          for t in s.list_trials("job_1")) == 2):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    proc.send_signal(2)  # Ctrl-C
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "CANCELLING" in err and "ended: CANCELLED" in out
    assert "Best trial:" in out and "state: CANCELLED" in out


def test_runtime_version_and_gcs_root_from_the_config_or_flags_reach_each_trial(job, tmp_path):
    store, base = job(max_trials=1)
    config = tmp_path / "job_1.yaml"
    mode = f"trainingInput:\n  runtimeVersion: 1.15\n  gcsRoot: {tmp_path}/gcs\n"
    config.write_text(config.read_text().replace("trainingInput:\n", mode))
    i = base.index("--job-dir")
    base[i + 1] = "gs://bucket/jobs/job_1"
    cli("jobs", "submit", "training", "job_1", *base, "--stream-logs", check=0)
    seen = json.loads((tmp_path / "gcs" / "bucket" / "jobs" / "job_1" / "1" / "seen.json")
                      .read_text())
    assert seen["env"]["TF_HPTUNE_RUNTIME_VERSION"] == "1.15"
    assert seen["env"]["TF_HPTUNE_GCS_ROOT"] == str(tmp_path / "gcs")
    # flags win over the config: a 2.x runtime is TensorFlow 2 as it is
    base[i + 1] = str(tmp_path / "job_2")
    cli("jobs", "submit", "training", "job_2", *base, "--stream-logs", "--runtime-version",
        "2.11", "--gcs-root", str(tmp_path / "other"), check=0)
    env = json.loads((tmp_path / "job_2" / "1" / "seen.json").read_text())["env"]
    assert "TF_HPTUNE_RUNTIME_VERSION" not in env
    assert env["TF_HPTUNE_GCS_ROOT"] == str(tmp_path / "other")


def test_a_gs_job_dir_without_a_gcs_root_is_a_usage_error(job):
    _, base = job()
    base[base.index("--job-dir") + 1] = "gs://bucket/out"
    proc = cli("jobs", "submit", "training", "job_1", *base, check=2)
    assert ("--job-dir gs://bucket/out: a local trial has no Cloud Storage; give the job "
            "--gcs-root DIR") in proc.stderr


def test_format_json_on_submit_and_cancel(job):
    store, base = job(max_trials=1)
    proc = cli("jobs", "submit", "training", "job_1", *base, "--wait", "--format", "json",
               check=0)
    out = json.loads(proc.stdout)
    assert out["jobId"] == "job_1" and out["state"] == "SUCCEEDED"
    assert out["bestTrial"]["trialId"] == "1" and "submitted successfully" in proc.stderr
    _, base = job(max_trials=1, name="job_2")
    proc = cli("jobs", "submit", "training", "job_2", *base, "--format", "json", "--",
               "--mode", "hang", check=0)
    assert json.loads(proc.stdout) == {"jobId": "job_2", "state": "QUEUED"}
    proc = cli("jobs", "cancel", "job_2", "--store", store, "--format", "json", check=0)
    assert json.loads(proc.stdout) == {"jobId": "job_2", "state": "CANCELLED"}


def test_resource_flags_reach_the_trials_and_bad_ones_name_the_flag(job, tmp_path):
    store, base = job(max_trials=1)
    cli("jobs", "submit", "training", "job_1", *base, "--wait", "--gpus", "3,",
        "--cpus-per-trial", "2", check=0)
    env = json.loads((tmp_path / "job_1" / "1" / "seen.json").read_text())["env"]
    assert env["CUDA_VISIBLE_DEVICES"] == "3" and env["OMP_NUM_THREADS"] == "2"
    proc = cli("jobs", "submit", "training", "job_2", *base, "--gpus", "1,x", check=2)
    assert "--gpus: 'x' is not a GPU id" in proc.stderr
    proc = cli("jobs", "submit", "training", "job_2", *base, "--gpus", "1",
               "--gpus-per-trial", "2", check=2)
    assert "gpusPerTrial 2 needs 2 GPUs" in proc.stderr
    assert "job_2" not in cli("jobs", "list", "--store", store, check=0).stdout
