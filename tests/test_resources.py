"""GPU slots and CPU shares: discovery through a fake nvidia-smi or a fake NVML module, the
pool's plans, and what real trial processes get from a Tuner (their environment, their cores,
waiting for a free GPU)."""
from __future__ import annotations

import json
import logging
import os
import sys
import types
from pathlib import Path

import pytest

from tests.conftest import FAKE_PACKAGE, make_spec
from tf_hptune import jobs
from tf_hptune.errors import SpecError, UsageError
from tf_hptune.launch import LaunchConfig
from tf_hptune.resources import (
    PCI_BUS_ORDER,
    Gpus,
    Resources,
    ResourceSettings,
    discover_gpus,
    parse_gpus,
    plan_cluster,
    plan_pool,
)
from tf_hptune.spec import load_spec
from tf_hptune.store import State, open_store

SMI = """#!/bin/sh
case "$*" in *--query-gpu=index,uuid*) ;; *) echo "unexpected: $*" >&2; exit 64;; esac
printf '0, GPU-aaaa-0000\\n1, GPU-bbbb-1111\\n'
"""


@pytest.fixture
def no_nvml(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` raises ImportError


@pytest.fixture
def fake_smi(tmp_path, monkeypatch, no_nvml):
    """An nvidia-smi on PATH that lists two GPUs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(SMI)
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return smi


def fake_nvml(uuids: list[str]) -> types.ModuleType:
    nvml = types.ModuleType("pynvml")
    nvml.calls = []  # type: ignore[attr-defined]
    nvml.nvmlInit = lambda: nvml.calls.append("init")  # type: ignore[attr-defined]
    nvml.nvmlShutdown = lambda: nvml.calls.append("shutdown")  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetCount = lambda: len(uuids)  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetUUID = lambda h: uuids[h].encode()  # type: ignore[attr-defined]
    return nvml


# -- discovery -----------------------------------------------------------------------------
def test_nvidia_smi_lists_the_gpus_in_its_own_numbering(fake_smi):
    found = discover_gpus({})
    assert found.ids == ("0", "1") and found.order == PCI_BUS_ORDER and found.notes == ()


def test_nvml_is_asked_first(fake_smi, monkeypatch):
    nvml = fake_nvml(["GPU-x", "GPU-y", "GPU-z"])
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    assert discover_gpus({}).ids == ("0", "1", "2")  # not nvidia-smi's two
    assert nvml.calls == ["init", "shutdown"]


@pytest.mark.parametrize("visible, ids", [
    ("1", ("1",)),
    ("GPU-bbbb", ("GPU-bbbb",)),  # a UUID prefix, as CUDA takes it
    ("1,0", ("1", "0")),  # the user's order
    ("", ()),
    ("-1", ()),
    ("0,-1,1", ("0",)),  # CUDA stops at an invalid index
])
def test_a_user_set_cuda_visible_devices_chooses_among_them(fake_smi, visible, ids):
    found = discover_gpus({"CUDA_VISIBLE_DEVICES": visible})
    assert found.ids == ids
    assert found.order is None  # in the user's numbering: no CUDA_DEVICE_ORDER of ours
    assert f"CUDA_VISIBLE_DEVICES={visible!r}" in found.notes[-1]


def test_an_entry_matching_no_gpu_is_left_out_and_said(fake_smi):
    found = discover_gpus({"CUDA_VISIBLE_DEVICES": "1,5"})
    assert found.ids == ("1",)
    assert any("'5' matches no GPU" in n for n in found.notes)


def test_no_gpu_means_the_cpu_and_says_why(tmp_path, monkeypatch, no_nvml):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi at all
    found = discover_gpus({})
    assert found.ids == () and "no nvidia-smi" in found.notes[0]
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate'"
                   " >&2\nexit 9\n")
    smi.chmod(0o755)
    found = discover_gpus({})
    assert found.ids == () and "NVIDIA-SMI has failed" in found.notes[0]


@pytest.mark.parametrize("value, ids", [
    (2, ("0", "1")), ("2", ("0", "1")), (0, ()), ("1,3", ("1", "3")), ("3,", ("3",)),
    ([0, "GPU-ab12"], ("0", "GPU-ab12")),
])
def test_gpus_is_a_count_or_a_list(value, ids):
    assert parse_gpus(value) == ids


@pytest.mark.parametrize("value, problem", [
    ("x", "'x' is not a GPU id"), ("1,1", "listed twice"), (-1, "negative"),
    (True, "GPU count"), ("", "lists no GPU"), (",", "is not a GPU id"), ([1.5], "not a GPU id"),
])
def test_bad_gpus_say_what_is_wrong(value, problem):
    with pytest.raises(ValueError, match=problem):
        parse_gpus(value)
    with pytest.raises(SpecError, match=r"trainingInput\.gpus: .*" + problem):
        load_spec({"trainingInput": {"gpus": value, "hyperparameters": {"params": [
            {"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 2}]}}})


# -- plans ---------------------------------------------------------------------------------
def shares(pool, count):
    return [pool.acquire(str(i)) for i in range(count)]


def test_one_trial_per_gpu_when_they_suffice():
    pool = plan_pool(ResourceSettings(), 2, Gpus(("0", "1")), range(4))
    a, b, none = shares(pool, 3)
    assert none is None and pool.size == 2
    assert a.environment()["CUDA_VISIBLE_DEVICES"] == "0"
    assert b.environment()["CUDA_VISIBLE_DEVICES"] == "1"
    assert a.environment()["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert "TF_FORCE_GPU_ALLOW_GROWTH" not in a.environment() and pool.notes == ()
    pool.release("0")
    assert pool.acquire("9") == a  # the freed GPU


def test_by_default_more_trials_than_gpus_are_packed_evenly_with_memory_growth():
    pool = plan_pool(ResourceSettings(), 5, Gpus(("0", "1")), range(4))
    got = shares(pool, 5)
    assert pool.size == 6  # 3 per GPU; the Tuner runs 5 at once
    assert [s.gpus for s in got[:5]] == [("0",), ("1",), ("0",), ("1",), ("0",)]
    assert all(s.environment()["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" for s in got[:5])
    assert any("up to 3 trials share each GPU" in n for n in pool.notes)


def test_trials_per_gpu_packs_k_and_the_others_wait():
    pool = plan_pool(ResourceSettings(trials_per_gpu=2), 5, Gpus(("0",)), range(4))
    assert pool.size == 2 and pool.free == 2
    assert [n for n in pool.notes if "wait for a free slot" in n] == [
        "maxParallelTrials 5 is above the 2 GPU slots (1 GPU, 2 trials each): the other "
        "trials wait for a free slot"]
    single = plan_pool(ResourceSettings(trials_per_gpu=1), 3, Gpus(("0", "1")), range(4))
    assert single.size == 2 and "TF_FORCE_GPU_ALLOW_GROWTH" not in single.acquire(
        "1").environment()


def test_gpus_per_trial_gives_whole_gpus_no_running_trial_shares():
    pool = plan_pool(ResourceSettings(gpus_per_trial=2), 4, Gpus(("0", "1", "2", "3", "4")),
                     range(8))
    a, b, none = shares(pool, 3)
    assert (a.environment()["CUDA_VISIBLE_DEVICES"], b.environment()["CUDA_VISIBLE_DEVICES"],
            none) == ("0,1", "2,3", None)
    assert not a.packed and a.gpu_count == 2
    assert any("leaves 4 unused" in n for n in pool.notes)
    assert any("2 GPU slots (5 GPUs, 2 per trial)" in n for n in pool.notes)
    with pytest.raises(ValueError, match="gpusPerTrial 2 needs 2 GPUs; there is 1 found"):
        plan_pool(ResourceSettings(gpus_per_trial=2), 1, Gpus(("0",)), range(2))
    with pytest.raises(ValueError, match="trialsPerGpu 2 cannot share them"):
        plan_pool(ResourceSettings(gpus_per_trial=2, trials_per_gpu=2), 1, Gpus(("0", "1")),
                  range(2))


def test_gpus_of_the_users_variable_keep_the_users_numbering():
    share = plan_pool(ResourceSettings(), 1, Gpus(("3",), order=None), range(2)).acquire("1")
    assert share.environment()["CUDA_VISIBLE_DEVICES"] == "3"
    assert "CUDA_DEVICE_ORDER" not in share.environment()


def test_cpu_cores_are_shared_out_among_the_trials_at_once():
    pool = plan_pool(ResourceSettings(), 2, Gpus(()), range(8))
    env = pool.acquire("1").environment()
    assert {k: env[k] for k in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                                "TF_NUM_INTEROP_THREADS")} == dict.fromkeys(
        ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"), "4")
    assert env["CUDA_VISIBLE_DEVICES"] == ""  # no GPU visible
    pinned = plan_pool(ResourceSettings(cpu_affinity=True), 3, Gpus(()), (0, 1, 2, 3, 4, 5, 6))
    assert [s.cpus for s in shares(pinned, 3)] == [(0, 1), (2, 3), (4, 5)]


def test_more_trials_than_cores_get_one_thread_each_and_it_is_said():
    pool = plan_pool(ResourceSettings(cpu_affinity=True), 20, Gpus(()), (0, 1))
    share = pool.acquire("1")
    assert share.threads == 1 and share.cpus == ()
    assert any("maxParallelTrials 20 is above the 2 CPU cores" in n for n in pool.notes)
    assert any("not pinned" in n for n in pool.notes)


def test_gpu_trials_share_the_cores_of_the_trials_that_run_at_once():
    # 5 wanted, 2 slots: the cores are shared by the 2 that run
    pool = plan_pool(ResourceSettings(trials_per_gpu=1, cpu_affinity=True), 5,
                     Gpus(("0", "1")), range(8))
    assert [s.cpus for s in shares(pool, 2)] == [(0, 1, 2, 3), (4, 5, 6, 7)]


def test_thread_limits_can_be_set_or_turned_off():
    assert plan_pool(ResourceSettings(cpus_per_trial=3), 2, Gpus(()), range(2)).acquire(
        "1").environment()["OMP_NUM_THREADS"] == "3"
    env = plan_pool(ResourceSettings(cpus_per_trial=0), 2, Gpus(()), range(2)).acquire(
        "1").environment()
    assert not {"OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"} & set(env)


def test_a_cluster_pool_asks_for_fractions_and_whole_gpus():
    packed = plan_cluster(ResourceSettings(), 8, cluster_gpus=2).acquire("1")
    assert packed == Resources(gpu_count=0.25, packed=True, threads=1)
    assert "CUDA_VISIBLE_DEVICES" not in packed.environment()  # Ray sets it
    assert plan_cluster(ResourceSettings(gpus_per_trial=2, cpus_per_trial=4), 3,
                        cluster_gpus=4).acquire("1") == Resources(gpu_count=2.0, threads=4)
    cpu = plan_cluster(ResourceSettings(), 3, cluster_gpus=0)
    assert cpu.size == 3 and cpu.acquire("1").environment()["CUDA_VISIBLE_DEVICES"] == ""
    with pytest.raises(ValueError, match="gpus names GPUs of this machine"):
        plan_cluster(ResourceSettings(gpus=("0",)), 1, cluster_gpus=1)


# -- what trial processes get ------------------------------------------------------------
def run_job(tmp_path: Path, training_input: dict, parallel: int, trials: int):
    spec = load_spec({"trainingInput": {**training_input, "hyperparameters": {
        "goal": "MINIMIZE", "hyperparameterMetricTag": "loss", "maxTrials": trials,
        "maxParallelTrials": parallel, "algorithm": "RANDOM_SEARCH",
        "params": [{"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 9}]}}})
    launch = jobs.launch_config("trainer.task", str(FAKE_PACKAGE), str(tmp_path / "out"),
                                ["--sleep", "0.4", "--steps", "2"], spec.training_input)
    store = open_store(tmp_path / "store.db")
    jobs.submit(spec, store, "gpu_job", launch, seed=0)
    study = jobs.run(store, "gpu_job", jobs.RunOptions(poll_interval=0.05, grace=1.0))
    seen = {t.trial_id: json.loads((tmp_path / "out" / t.trial_id / "seen.json").read_text())
            for t in study.trials}
    return study, seen


def overlapping(trials):
    return [(a, b) for a in trials for b in trials
            if a.number < b.number and a.start_time < b.end_time and b.start_time < a.end_time]


def test_each_trial_runs_on_its_slots_gpu_and_the_extra_ones_wait(tmp_path, fake_smi, caplog):
    caplog.set_level(logging.WARNING, logger="tf_hptune")
    study, seen = run_job(tmp_path, {"trialsPerGpu": 1}, parallel=3, trials=5)
    assert [t.state for t in study.trials] == [State.SUCCEEDED] * 5
    gpu = {tid: s["env"]["CUDA_VISIBLE_DEVICES"] for tid, s in seen.items()}
    assert set(gpu.values()) == {"0", "1"}
    pairs = overlapping(study.trials)
    assert pairs  # two at a time ran side by side ...
    assert all(gpu[a.trial_id] != gpu[b.trial_id] for a, b in pairs)  # never on one GPU
    assert not any(c.number > b.number and (a, c) in pairs and (b, c) in pairs
                   for a, b in pairs for c in study.trials)  # ... and never three
    waiting = [r.getMessage() for r in caplog.records if "wait for a free slot" in r.getMessage()]
    assert len(waiting) == 1 and "maxParallelTrials 3 is above the 2 GPU slots" in waiting[0]
    assert all(s["env"]["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID" for s in seen.values())


def test_packed_trials_share_a_gpu_with_memory_growth(tmp_path, fake_smi, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")  # the user's choice among the two
    study, seen = run_job(tmp_path, {}, parallel=2, trials=2)
    assert overlapping(study.trials)
    for s in seen.values():
        assert s["env"]["CUDA_VISIBLE_DEVICES"] == "1"
        assert s["env"]["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
        assert "CUDA_DEVICE_ORDER" not in s["env"]


def test_several_gpus_per_trial_reach_the_trial(tmp_path, fake_smi):
    _, seen = run_job(tmp_path, {"gpusPerTrial": 2}, parallel=1, trials=1)
    assert seen["1"]["env"]["CUDA_VISIBLE_DEVICES"] == "0,1"


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_cpu_trials_see_no_gpu_and_get_their_threads_and_cores(tmp_path, fake_smi):
    cores = sorted(os.sched_getaffinity(0))
    study, seen = run_job(tmp_path, {"gpus": 0, "cpuAffinity": True}, parallel=2, trials=2)
    threads = str(len(cores) // 2)
    for s in seen.values():
        assert s["env"]["CUDA_VISIBLE_DEVICES"] == ""
        assert (s["env"]["OMP_NUM_THREADS"], s["env"]["TF_NUM_INTRAOP_THREADS"],
                s["env"]["TF_NUM_INTEROP_THREADS"]) == (threads,) * 3
        assert len(s["affinity"]) == len(cores) // 2
    assert overlapping(study.trials)
    assert not set(seen["1"]["affinity"]) & set(seen["2"]["affinity"])  # cores of their own


def test_settings_the_machine_cannot_meet_fail_before_the_job_exists(tmp_path, fake_smi):
    spec = make_spec([{"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 2}])
    launch = LaunchConfig("trainer.task", str(FAKE_PACKAGE), str(tmp_path / "out"))
    launch = LaunchConfig(**{**launch.__dict__,
                             "resources": ResourceSettings(gpus_per_trial=4)})
    store = open_store(tmp_path / "store.db")
    with pytest.raises(UsageError, match="gpusPerTrial 4 needs 4 GPUs; there are 2 found"):
        jobs.submit(spec, store, "too_wide", launch)
    assert store.list_jobs() == []
