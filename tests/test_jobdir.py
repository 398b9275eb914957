"""A job dir is one job's, checked before the job is recorded, and driven by one tuner at a
time: planted links, other people's directories and other jobs' directories are refused."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import FAKE_PACKAGE, ROOT, make_spec
from tf_hptune import jobs
from tf_hptune.errors import JobNotFoundError, UnsafePathError
from tf_hptune.jobdir import (
    JobDirInUseError,
    JobLockedError,
    claim_job_dir,
    job_dir_owner,
    lock_holder,
)
from tf_hptune.launch import LaunchConfig
from tf_hptune.store import State, open_store

SPEC = make_spec([{"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 9}],
                 goal="MINIMIZE", hyperparameterMetricTag="loss", maxTrials=1)
NOBODY = 65534


def launch(job_dir, *args):
    return LaunchConfig("trainer.task", str(FAKE_PACKAGE), str(job_dir), user_args=args)


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "s.db") as s:
        yield s


def refused_before_recording(store, name, job_dir, error, match):
    with pytest.raises(error, match=match):
        jobs.submit(SPEC, store, name, launch(job_dir))
    with pytest.raises(JobNotFoundError):  # nothing recorded: no job left QUEUED for good
        store.get_job(name)


def test_the_job_dir_of_another_job_is_refused_before_the_job_is_recorded(tmp_path, store):
    jobs.submit(SPEC, store, "first", launch(tmp_path / "out"))
    assert job_dir_owner(tmp_path / "out") == "first"  # marked at submit
    refused_before_recording(store, "second", tmp_path / "out", JobDirInUseError,
                             "already holds the trials of job 'first'")


@pytest.mark.parametrize("inside", ["1", "1/deeper", "tf_hptune/1"])
def test_a_job_dir_inside_another_jobs_directory_is_refused(tmp_path, store, inside):
    jobs.submit(SPEC, store, "outer", launch(tmp_path / "out"))
    refused_before_recording(store, "inner", tmp_path / "out" / inside, JobDirInUseError,
                             "inside .*the directory of job 'outer'")


def test_a_refused_submit_leaves_the_job_dir_unmarked(tmp_path, store):
    jobs.submit(SPEC, store, "taken", launch(tmp_path / "a"))
    with pytest.raises(Exception, match="already exists"):
        jobs.submit(SPEC, store, "taken", launch(tmp_path / "b"))
    assert job_dir_owner(tmp_path / "b") is None
    jobs.submit(SPEC, store, "other", launch(tmp_path / "b"))  # free for another job


def plant(job_dir, victim, attacker):
    """What someone else leaves in a job dir they made: the tuner's control dir a link to
    their directory, where the job's marker and a trial's log are links to a file of yours."""
    job_dir.mkdir()
    os.symlink(attacker, job_dir / "tf_hptune")
    (attacker / "1").mkdir(parents=True)
    os.symlink(victim, attacker / "job.json")
    os.symlink(victim, attacker / "1" / "stdout.log")


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "home" / "secrets.txt"
    path.parent.mkdir()
    path.write_text("mine\n")
    return path


def test_a_job_dir_made_by_someone_else_is_refused_and_nothing_is_written(tmp_path, store,
                                                                          victim):
    if os.geteuid() != 0:
        pytest.skip("needs root to make a directory someone else's")
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o1777)
    attacker = shared / "theirs"
    plant(shared / "job", victim, attacker)
    for path in (shared / "job", shared / "job" / "tf_hptune", attacker, attacker / "1"):
        os.lchown(path, NOBODY, NOBODY)
    refused_before_recording(store, "job", shared / "job", UnsafePathError,
                             "belongs to .*uid 65534.*not to you")
    assert victim.read_text() == "mine\n"


@pytest.mark.parametrize("how", ["writable", "link"])
def test_planted_links_in_your_own_job_dir_are_refused(tmp_path, store, victim, how):
    job_dir = tmp_path / "job"
    plant(job_dir, victim, tmp_path / "theirs")
    if how == "writable":  # a directory others may write in: they may have planted anything
        os.chmod(job_dir, 0o777)
    refused_before_recording(store, "job", job_dir, UnsafePathError,
                             "writable by others" if how == "writable" else "symbolic link")
    assert victim.read_text() == "mine\n"


def test_a_planted_trial_log_fails_the_trial_and_is_not_written(tmp_path, store, victim):
    jobs.submit(SPEC, store, "job", launch(tmp_path / "out"))
    control = tmp_path / "out" / "tf_hptune" / "1"
    control.mkdir(mode=0o700)
    os.symlink(victim, control / "stdout.log")
    study = jobs.run(store, "job", jobs.RunOptions(poll_interval=0.05))
    (trial,) = study.trials
    assert trial.state is State.FAILED and "symbolic link" in trial.reason
    assert victim.read_text() == "mine\n"


HOLD = textwrap.dedent("""
    import os, signal, sys
    from tf_hptune.jobdir import claim_job_dir
    claim_job_dir(sys.argv[1], "job")
    os.kill(os.getpid(), signal.SIGSTOP)
""")


def test_one_tuner_per_job_dir_and_the_lock_dies_with_its_holder(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], cwd=ROOT)
    try:
        os.waitpid(holder.pid, os.WUNTRACED)  # it holds the lock and is stopped
        assert lock_holder(tmp_path) == holder.pid
        with pytest.raises(JobLockedError, match=f"run by tuner process {holder.pid}"):
            claim_job_dir(tmp_path, "job")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert lock_holder(tmp_path) is None  # the operating system released it
    with claim_job_dir(tmp_path, "job") as claim, claim_job_dir(tmp_path, "job"):
        assert lock_holder(tmp_path) is None  # this process's own claim is not "another"
        assert claim.count == 2
    with pytest.raises(JobDirInUseError, match="'job'"):
        claim_job_dir(tmp_path, "other")
