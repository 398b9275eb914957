"""SQLite-specific behaviour: files, permissions, paths, concurrency, corrupt files, disk full."""
from __future__ import annotations

import os
import pathlib
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from tf_hptune.errors import JobExistsError, JobNotFoundError, StoreError
from tf_hptune.store import Measurement, SqliteStore, State, default_store_path, open_store
from tf_hptune.store import sqlite as sqlite_module

CONFIG = {"trainingInput": {"hyperparameters": {"goal": "MAXIMIZE"}}}
LAUNCH = {"module": "trainer.task"}


def _mode(path: pathlib.Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# --- files and paths ----------------------------------------------------------------------


def test_wal_mode_and_pragmas(sqlite_path: pathlib.Path) -> None:
    with open_store(sqlite_path) as store:
        store.create_job("job1", CONFIG, LAUNCH)
        conn = store._conn
        assert conn is not None
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 30000
        assert conn.execute("PRAGMA user_version").fetchone()[0] == sqlite_module.SCHEMA_VERSION
    other = sqlite3.connect(sqlite_path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent
    finally:
        other.close()


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_permissions_ignore_umask(tmp_path: pathlib.Path, umask: int) -> None:
    path = tmp_path / "a" / "tf_hptune_home" / "store.db"
    old = os.umask(umask)
    try:
        store = open_store(path)
    finally:
        os.umask(old)
    with store:
        store.create_job("job1", CONFIG, LAUNCH)
        assert _mode(path.parent) == 0o700
        assert _mode(path) == 0o600
        for suffix in ("-wal", "-shm"):
            side = pathlib.Path(f"{path}{suffix}")
            assert side.exists(), suffix
            assert _mode(side) == 0o600, suffix


def test_existing_directory_is_left_alone(tmp_path: pathlib.Path) -> None:
    tmp_path.chmod(0o755)
    with open_store(tmp_path / "store.db"):
        pass
    assert _mode(tmp_path) == 0o755
    assert _mode(tmp_path / "store.db") == 0o600


def test_default_path_uses_tf_hptune_home(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TF_HPTUNE_HOME", str(tmp_path / "hp"))
    assert default_store_path() == tmp_path / "hp" / "store.db"
    with open_store() as store:
        assert pathlib.Path(store.path) == tmp_path / "hp" / "store.db"
        store.create_job("job1", CONFIG, LAUNCH)
    assert (tmp_path / "hp" / "store.db").is_file()
    assert _mode(tmp_path / "hp") == 0o700


def test_default_path_under_home(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_HPTUNE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_store_path() == tmp_path / ".tf_hptune" / "store.db"
    monkeypatch.setenv("TF_HPTUNE_HOME", "")
    assert default_store_path() == tmp_path / ".tf_hptune" / "store.db"
    monkeypatch.setenv("TF_HPTUNE_HOME", "~/elsewhere")
    assert default_store_path() == tmp_path / "elsewhere" / "store.db"
    monkeypatch.delenv("TF_HPTUNE_HOME")
    with open_store() as store:
        store.create_job("job1", CONFIG, LAUNCH)
    assert _mode(tmp_path / ".tf_hptune") == 0o700
    assert _mode(tmp_path / ".tf_hptune" / "store.db") == 0o600


def test_reopen_keeps_data(sqlite_path: pathlib.Path) -> None:
    with open_store(sqlite_path) as store:
        store.create_job("job1", CONFIG, LAUNCH)
        store.update_job("job1", state=State.RUNNING, tuner_pid=99)
        store.create_trial("job1", "1", {"lr": 0.1, "n": 64})
        store.add_measurements("job1", "1", [Measurement(1, 0.5, 1.0), Measurement(2, 0.25)])
        store.update_trial("job1", "1", final_value=float("inf"), stopped_early=True)
        jobs, trials = store.list_jobs(), store.list_trials("job1")
    with SqliteStore(str(sqlite_path)) as again:
        assert again.list_jobs() == jobs
        assert again.list_trials("job1") == trials
        assert again.list_trials("job1")[0].measurements == trials[0].measurements


def test_memory_store(tmp_path: pathlib.Path) -> None:
    with SqliteStore(":memory:") as store:
        store.create_job("job1", CONFIG, LAUNCH)
        assert [j.name for j in store.list_jobs()] == ["job1"]


def test_closed_store_raises(sqlite_path: pathlib.Path) -> None:
    store = open_store(sqlite_path)
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get_job("job1")


def test_not_found_message_names_store(sqlite_path: pathlib.Path) -> None:
    with open_store(sqlite_path) as store:
        store.create_job("mnist_run_1", CONFIG, LAUNCH)
        with pytest.raises(JobNotFoundError) as info:
            store.get_job("mnist_run_2")
    message = str(info.value)
    assert "mnist_run_2" in message and str(sqlite_path) in message
    assert "did you mean 'mnist_run_1'?" in message


# --- files that are not our store ---------------------------------------------------------


def test_non_sqlite_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"this is not a database, just some text\n" * 100)
    with pytest.raises(StoreError, match=str(path)):
        open_store(path)


def test_foreign_sqlite_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a tf_hptune store"):
        open_store(path)


def test_newer_schema_version(sqlite_path: pathlib.Path) -> None:
    with open_store(sqlite_path) as store:
        store.create_job("job1", CONFIG, LAUNCH)
    conn = sqlite3.connect(sqlite_path)
    conn.execute(f"PRAGMA user_version = {sqlite_module.SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=f"{sqlite_path}.*schema version"):
        open_store(sqlite_path)


def test_empty_existing_file_becomes_a_store(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "store.db"
    path.touch()
    with open_store(path) as store:
        store.create_job("job1", CONFIG, LAUNCH)
        assert store.get_job("job1").state is State.QUEUED


# --- disk full ----------------------------------------------------------------------------


def test_disk_full_rolls_back_and_keeps_job_readable(sqlite_path: pathlib.Path) -> None:
    with open_store(sqlite_path) as store:
        store.create_job("job1", CONFIG, LAUNCH)
        store.create_trial("job1", "1", {"lr": 0.1})
        store.add_measurements("job1", "1", [Measurement(s, s / 10) for s in range(10)])
        store.update_trial("job1", "1", state=State.RUNNING, log_tail="before")
        before = store.get_trial("job1", "1")
        conn = store._conn
        assert conn is not None
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 1}")

        with pytest.raises(StoreError, match=f"{sqlite_path}.*full"):
            store.update_trial("job1", "1", state=State.SUCCEEDED, log_tail="x" * 2_000_000)
        with pytest.raises(StoreError, match="full"):
            store.add_measurements(
                "job1", "1", [Measurement(s, 1.0 / s) for s in range(10, 50_000)]
            )

        after = store.get_trial("job1", "1")
        assert after == before
        assert after.measurements == before.measurements
        assert after.log_tail == "before" and after.state is State.RUNNING
        assert store.get_job("job1").config == CONFIG
        assert not conn.in_transaction

        conn.execute("PRAGMA max_page_count = 1073741823")
        store.update_trial("job1", "1", state=State.SUCCEEDED, log_tail="x" * 2_000_000)
        assert store.get_trial("job1", "1").state is State.SUCCEEDED
    with open_store(sqlite_path) as again:
        assert len(again.get_trial("job1", "1").measurements) == 10


# --- threads and processes ----------------------------------------------------------------


def test_threads_share_one_store(sqlite_path: pathlib.Path) -> None:
    errors: list[BaseException] = []
    with open_store(sqlite_path) as store:
        store.create_job("job1", CONFIG, LAUNCH)
        for number in range(1, 5):
            store.create_trial("job1", str(number), {})

        def work(trial_id: str) -> None:
            try:
                for step in range(100):
                    store.add_measurements("job1", trial_id, [Measurement(step, step * 0.5)])
                    store.list_trials("job1")
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(str(n),)) for n in range(1, 5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert [len(t.measurements) for t in store.list_trials("job1")] == [100] * 4


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_opens_its_own_connection(sqlite_path: pathlib.Path) -> None:
    with open_store(sqlite_path) as store:
        store.create_job("parent", CONFIG, LAUNCH)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                store.create_job("child", CONFIG, LAUNCH)
                store.create_trial("child", "1", {"x": 1})
                store.close()
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert store.get_trial("child", "1").params == {"x": 1}
        store.update_job("parent", state=State.RUNNING)
        assert [j.name for j in store.list_jobs()] == ["parent", "child"]


_PRELUDE = textwrap.dedent(
    """
    import os, pathlib, sys, time, traceback
    from tf_hptune.errors import JobExistsError
    from tf_hptune.store import Measurement, State, open_store

    def wait_for_go(tag):
        pathlib.Path(os.environ["SYNC"], "ready-" + tag).touch()
        go = pathlib.Path(os.environ["SYNC"], "go")
        deadline = time.time() + 60
        while not go.exists():
            if time.time() > deadline:
                sys.exit("no go signal")
            time.sleep(0.001)
    """
)


def _spawn(code: str, sync: pathlib.Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, SYNC=str(sync))
    return subprocess.Popen(
        [sys.executable, "-c", _PRELUDE + textwrap.dedent(code), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _release(sync: pathlib.Path, count: int) -> None:
    """Wait until ``count`` children are ready, then let them all go at once."""
    deadline = time.time() + 120
    while len(list(sync.glob("ready-*"))) < count:
        assert time.time() < deadline, "children did not start"
        time.sleep(0.01)
    (sync / "go").touch()


def test_processes_racing_to_create_a_job(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "fresh" / "store.db"  # not created yet: the schema is raced too
    sync = tmp_path / "sync"
    sync.mkdir()
    code = """
        store_path, tag = sys.argv[1], sys.argv[2]
        wait_for_go(tag)
        store = open_store(store_path)
        try:
            store.create_job("same_name", {"winner": tag}, {})
            print("WON")
        except JobExistsError as e:
            print("EXISTS", e)
    """
    count = 4
    procs = [_spawn(code, sync, str(path), str(i)) for i in range(count)]
    _release(sync, count)
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
    lines = [out.strip() for out, _ in outputs]
    assert sum(line == "WON" for line in lines) == 1, lines
    losers = [line for line in lines if line != "WON"]
    assert all(line.startswith("EXISTS") and "same_name" in line for line in losers), lines
    with open_store(path) as store:
        winner = store.get_job("same_name").config["winner"]
    assert lines[int(winner)] == "WON"


def test_concurrent_writers_and_readers_never_see_locked(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "store.db"
    with open_store(path):
        pass
    sync = tmp_path / "sync"
    sync.mkdir()
    writer = """
        store_path, name, writes = sys.argv[1], sys.argv[2], int(sys.argv[3])
        store = open_store(store_path)
        store.create_job(name, {}, {})
        store.create_trial(name, "1", {"lr": 0.1})
        wait_for_go(name)
        try:
            for step in range(writes):
                store.add_measurements(name, "1", [Measurement(step, step / 7, time.time())])
                if step % 20 == 0:
                    store.update_trial(name, "1", state=State.RUNNING, final_step=step)
            store.update_job(name, state=State.SUCCEEDED)
        except Exception:
            traceback.print_exc()
            sys.exit(1)
    """
    reader = """
        store_path, tag = sys.argv[1], sys.argv[2]
        wait_for_go(tag)
        reads = 0
        try:
            while not pathlib.Path(os.environ["SYNC"], "stop").exists():
                store = open_store(store_path)
                for job in store.list_jobs():
                    store.list_trials(job.name)
                    reads += 1
                store.close()
        except Exception:
            traceback.print_exc()
            sys.exit(1)
        print(reads)
    """
    writes = 300
    writers = [_spawn(writer, sync, str(path), name, str(writes)) for name in ("job_a", "job_b")]
    readers = [_spawn(reader, sync, str(path), f"reader{i}") for i in range(2)]
    _release(sync, 4)
    try:
        for proc in writers:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            assert "locked" not in err
    finally:
        (sync / "stop").touch()
    for proc in readers:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "locked" not in err
    with open_store(path) as store:
        for name in ("job_a", "job_b"):
            assert store.get_job(name).state is State.SUCCEEDED
            trial = store.get_trial(name, "1")
            assert [m.step for m in trial.measurements] == list(range(writes))
        with pytest.raises(JobExistsError):
            store.create_job("job_a", {}, {})
