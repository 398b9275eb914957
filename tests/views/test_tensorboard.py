"""The HParams experiment as TensorBoard itself reads it back: its event multiplexer, data
provider and the hparams plugin's own request handlers (what the dashboard asks)."""
from __future__ import annotations

import json
import logging
import math
import subprocess
import sys

import pytest

from tests.conftest import FAKE_PACKAGE, ROOT, make_spec
from tests.views.conftest import CURVES
from tf_hptune import jobs
from tf_hptune.channel import TrialChannel, TrialPaths
from tf_hptune.channel.events import EventFileReader
from tf_hptune.launch import LaunchConfig
from tf_hptune.spec import load_spec
from tf_hptune.store import State, open_store
from tf_hptune.study import Study
from tf_hptune.tuner import Tuner

pytest.importorskip("tensorboard")

from tf_hptune.views import tensorboard as tbv  # noqa: E402

WRITE_THEN_READ = r"""
import json, sys
from tf_hptune.spec import load_spec
from tf_hptune.store import open_store
from tf_hptune.views.tensorboard import HParamsWriter

store_path, name, job_dir = sys.argv[1:]
with open_store(store_path) as store:
    job, trials = store.get_job(name), store.list_trials(name)
HParamsWriter(job_dir, load_spec(job.config), name).update(trials)
tf_modules = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))

# Read back as `tensorboard --logdir job_dir` does (this part may import TensorFlow).
from google.protobuf import json_format
from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from tensorboard.plugins.hparams import api_pb2, backend_context, get_experiment
from tensorboard.plugins.hparams import list_session_groups

mux = plugin_event_multiplexer.EventMultiplexer()
mux.AddRunsFromDirectory(job_dir)
mux.Reload()
provider = data_provider.MultiplexerDataProvider(mux, job_dir)
backend = backend_context.Context(base_plugin.TBContext(
    logdir=job_dir, data_provider=provider, multiplexer=mux))
request = context.RequestContext()
experiment = get_experiment.Handler(request, backend, "", api_pb2.GetExperimentRequest()).run()
groups = list_session_groups.Handler(request, backend, "", api_pb2.ListSessionGroupsRequest(
    start_index=0, slice_size=100, allowed_statuses=api_pb2.Status.values(),
    aggregation_type=api_pb2.AGGREGATION_AVG)).run()
print(json.dumps({
    "tf_modules": tf_modules,
    "runs": sorted(mux.Runs()),
    "experiment": json_format.MessageToDict(experiment),
    "groups": json_format.MessageToDict(groups).get("sessionGroups", []),
}))
"""


def write_and_read(stored) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", WRITE_THEN_READ, stored.store_path, stored.name,
         str(stored.job_dir)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_tensorboard_reads_every_ended_trial_as_a_session_beside_its_own_runs(stored_job):
    spec = load_spec(stored_job.job.config)
    # The trainer's own runs in the trial's --job-dir: they must become the session's runs.
    (stored_job.job_dir / "2" / "eval").mkdir(parents=True)
    (stored_job.job_dir / "2" / "eval" / "events.out.tfevents.1.host").write_bytes(b"")
    data = write_and_read(stored_job)
    assert data["tf_modules"] == []  # the writer imported no TensorFlow

    experiment = data["experiment"]
    infos = {h["name"]: h for h in experiment["hparamInfos"]}
    assert set(infos) == {p.name for p in spec.params} | {tbv.STOPPED_EARLY}
    for p in spec.params:
        info = infos[p.name]
        if p.type.value in ("DOUBLE", "INTEGER"):
            assert info["domainInterval"] == {"minValue": p.min_value, "maxValue": p.max_value}
            assert info["type"] == "DATA_TYPE_FLOAT64"
        else:
            assert info["domainDiscrete"] == list(p.categorical_values or p.discrete_values)
    assert infos["optimizer"]["type"] == "DATA_TYPE_STRING"
    assert [m["name"] for m in experiment["metricInfos"]] == [
        {"group": tbv.METRIC_GROUP, "tag": "loss"}]

    ended = {t.trial_id: t for t in stored_job.trials
             if t.state.is_final and t.start_time is not None}
    assert {"1", "2", "3", "4", "5"} == set(ended)  # not the running one, nor the unstarted
    groups = {g["name"]: g for g in data["groups"]}
    assert set(groups) == set(ended)
    status = {State.SUCCEEDED: "STATUS_SUCCESS", State.FAILED: "STATUS_FAILURE"}
    for tid, t in ended.items():
        (session,) = groups[tid]["sessions"]
        assert session["name"] == tid  # the run of the trial's own --job-dir
        assert session["status"] == status[t.state]
        hparams = dict(groups[tid]["hparams"])
        assert hparams.pop(tbv.STOPPED_EARLY) is t.stopped_early
        assert hparams.keys() == t.params.keys()
        for name, value in t.params.items():
            assert hparams[name] == (value if isinstance(value, str) else float(value))
        (metric,) = session["metricValues"]
        last_step, last_value = CURVES[tid][0][-1]
        assert int(metric["trainingStep"]) == last_step
        assert math.isclose(metric["value"], last_value, rel_tol=1e-6)
    assert groups["3"]["hparams"][tbv.STOPPED_EARLY] is True
    assert {"2", "2/eval", "2/tf_hptune"} <= set(data["runs"])


def test_the_tuner_never_reads_the_metric_copy_as_the_trials_own_summaries(stored_job):
    writer = tbv.HParamsWriter(stored_job.job_dir, load_spec(stored_job.job.config))
    writer.update(stored_job.trials)
    copy = stored_job.job_dir / "2" / tbv.METRIC_GROUP / tbv.METRIC_FILE
    assert copy.stat().st_size > 0
    channel = TrialChannel(TrialPaths.for_trial(stored_job.job_dir, "2"), "loss")
    assert channel.measurements() == []


def test_writing_again_changes_nothing_and_a_resumed_tuner_keeps_the_experiment(stored_job):
    spec = load_spec(stored_job.job.config)
    writer = tbv.HParamsWriter(stored_job.job_dir, spec, stored_job.name)
    writer.update(stored_job.trials)
    files = sorted(p for p in stored_job.job_dir.rglob("*") if p.is_file())
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    writer.update(stored_job.trials)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files} == before
    experiment = stored_job.job_dir / tbv.EXPERIMENT_FILE
    tbv.HParamsWriter(stored_job.job_dir, spec, stored_job.name)  # a resumed tuner
    assert experiment.read_bytes() == before[experiment][0]
    assert all(not p.name.endswith(".tmp") for p in stored_job.job_dir.rglob("*"))
    assert all(p.stat().st_mode & 0o077 == 0 for p in files)  # readable by the user only


def test_a_write_that_fails_is_logged_once_and_never_raises(stored_job, caplog):
    stored_job.job_dir.parent.mkdir(parents=True, exist_ok=True)
    stored_job.job_dir.write_text("a file where the job dir should be")
    caplog.set_level(logging.WARNING)
    writer = tbv.HParamsWriter(stored_job.job_dir, load_spec(stored_job.job.config))
    writer.update(stored_job.trials)
    writer.update(stored_job.trials)
    said = [r for r in caplog.records if "could not be written" in r.getMessage()]
    assert len(said) == 1 and "FileExistsError" in said[0].getMessage()


def test_without_tensorboard_nothing_is_written_and_that_is_said_once(stored_job):
    code = (
        "import logging, sys\n"
        "sys.modules['tensorboard'] = None  # as if not installed\n"
        "logging.basicConfig(level=logging.WARNING, format='%(message)s')\n"
        "from tf_hptune.spec import load_spec\n"
        "from tf_hptune.store import open_store\n"
        "from tf_hptune.views.tensorboard import HParamsWriter\n"
        f"store = open_store({stored_job.store_path!r})\n"
        f"job = store.get_job({stored_job.name!r})\n"
        "for _ in range(2):\n"
        f"    w = HParamsWriter({str(stored_job.job_dir)!r}, load_spec(job.config))\n"
        f"    w.update(store.list_trials({stored_job.name!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("no TensorBoard HParams data is written") == 1
    assert "tf-hptune[tensorboard]" in out.stderr
    assert not stored_job.job_dir.exists()


def test_a_tuner_run_job_writes_its_experiment_and_a_session_per_ended_trial(tmp_path):
    spec = make_spec([{"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 3}],
                     goal="MINIMIZE", hyperparameterMetricTag="loss", maxTrials=3,
                     maxParallelTrials=2, maxFailedTrials=3)
    study = Study.create(spec, store=open_store(tmp_path / "s.db"), name="job", seed=0)
    job_dir = tmp_path / "out"
    launch = LaunchConfig("trainer.task", str(FAKE_PACKAGE), str(job_dir),
                          user_args=("--fail-trials", "2"))
    assert Tuner(study, launch, poll_interval=0.05, grace=1.0).run() is State.SUCCEEDED
    assert (job_dir / tbv.EXPERIMENT_FILE).stat().st_size > 0
    for t in study.trials:
        assert (job_dir / t.trial_id / tbv.SESSION_FILE).stat().st_size > 0
        copy = EventFileReader(job_dir / t.trial_id / tbv.METRIC_GROUP / tbv.METRIC_FILE)
        events = copy.read_new()
        assert [e.step for e in events] == [m.step for m in t.measurements]
        assert [e.value for e in events] == pytest.approx([m.value for m in t.measurements])
    assert [t.state for t in study.trials].count(State.FAILED) == 1


def test_cancelling_a_job_whose_tuner_is_gone_writes_its_cancelled_sessions(tmp_path):
    spec = make_spec([{"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 3}],
                     maxTrials=2, maxParallelTrials=2)
    job_dir = tmp_path / "out"
    launch = LaunchConfig("trainer.task", str(FAKE_PACKAGE), str(job_dir))
    store = open_store(tmp_path / "s.db")
    study = Study.create(spec, store=store, name="job", launch=launch.to_dict())
    first, _ = study.suggest(2)
    study.start(first.trial_id, trial_dir=str(job_dir / first.trial_id))  # no live process
    assert jobs.cancel(store, "job") is State.CANCELLED
    assert (job_dir / first.trial_id / tbv.SESSION_FILE).is_file()
    assert not (job_dir / "2").exists()  # it never started: no session
