"""The SQLite store: one file per user by default, shared by tuner processes and readers.

Concurrency: WAL mode, a 30 s busy timeout and short ``BEGIN IMMEDIATE`` write transactions,
so that several tuners writing different jobs and readers in other processes never see
"database is locked". One connection per ``SqliteStore``, guarded by a lock; after ``fork`` the
child opens its own connection (the parent's is never used or closed there).

Non-finite floats: SQLite stores a REAL NaN as NULL, so every float that may be NaN/inf is kept
in two columns: ``<name>`` (REAL, NULL when not finite) and ``<name>_nonfinite`` ('nan', 'inf',
'-inf' or NULL).
"""
from __future__ import annotations

import contextlib
import difflib
import json
import math
import os
import pathlib
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from tf_hptune.errors import JobExistsError, JobNotFoundError, StoreError
from tf_hptune.store.base import (
    BACKENDS,
    JobRecord,
    Measurement,
    State,
    Store,
    TrialRecord,
    check_job_fields,
    check_job_name,
    check_measurements,
    check_trial_fields,
    check_trial_id,
    same_value,
    to_json,
)

SCHEMA_VERSION = 1
APPLICATION_ID = 0x74666870  # b"tfhp"
BUSY_TIMEOUT_S = 30.0
MEMORY = ":memory:"

_SCHEMA = """
CREATE TABLE jobs (
    name TEXT PRIMARY KEY NOT NULL,
    state TEXT NOT NULL,
    config TEXT NOT NULL,
    launch TEXT NOT NULL,
    info TEXT NOT NULL DEFAULT '{}',
    create_time REAL NOT NULL,
    start_time REAL,
    end_time REAL,
    error_message TEXT,
    tuner_pid INTEGER,
    tuner_host TEXT
);
CREATE TABLE trials (
    job TEXT NOT NULL REFERENCES jobs(name) ON DELETE CASCADE,
    trial_id TEXT NOT NULL,
    params TEXT NOT NULL,
    state TEXT NOT NULL,
    create_time REAL NOT NULL,
    start_time REAL,
    end_time REAL,
    final_step INTEGER,
    final_value REAL,
    final_value_nonfinite TEXT,
    stopped_early INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    log_tail TEXT,
    pid INTEGER,
    trial_dir TEXT,
    PRIMARY KEY (job, trial_id)
);
CREATE TABLE measurements (
    job TEXT NOT NULL,
    trial_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    value REAL,
    value_nonfinite TEXT,
    time REAL NOT NULL,
    PRIMARY KEY (job, trial_id, step),
    FOREIGN KEY (job, trial_id) REFERENCES trials(job, trial_id) ON DELETE CASCADE
);
"""

# Connections abandoned in a forked child: kept referenced so that they are never closed there
# (closing the parent's connection in the child could release the parent's locks).
_ABANDONED: list[sqlite3.Connection] = []


# --- value encoding -------------------------------------------------------------------------


def _encode_float(value: float | None) -> tuple[float | None, str | None]:
    """Split a float into (REAL column, non-finite marker column)."""
    if value is None:
        return None, None
    value = float(value)
    if math.isnan(value):
        return None, "nan"
    if math.isinf(value):
        return None, "inf" if value > 0 else "-inf"
    return value, None


def _decode_float(value: float | None, nonfinite: str | None) -> float | None:
    if nonfinite is not None:
        return float(nonfinite)
    return None if value is None else float(value)


def _is_busy(e: sqlite3.Error) -> bool:
    text = str(e).lower()
    return "locked" in text or "busy" in text


# --- the store ------------------------------------------------------------------------------


class SqliteStore(Store):
    """``Store`` over one SQLite file (or ``":memory:"``, private to this instance);
    ``readonly``: an existing file, opened for reading only (writes raise ``StoreError``)."""

    def __init__(self, path: str | os.PathLike[str], readonly: bool = False) -> None:
        raw = os.fspath(path)
        self._memory = raw == MEMORY
        self.path: pathlib.Path | str = raw if self._memory else pathlib.Path(raw).expanduser()
        self.readonly = readonly and not self._memory
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._closed = False
        if self.readonly and not os.path.isfile(self.path):
            raise StoreError(f"no store at {self.path}: no job was submitted with it (did you "
                             "mean another --store?)")
        created = False if self._memory or self.readonly else self._prepare_file()
        self._conn = self._connect(created)

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    # -- opening -----------------------------------------------------------------------------

    def _prepare_file(self) -> bool:
        """Create the parent directory (0700) and the file (0600) if missing.

        Returns whether the file was created here."""
        assert isinstance(self.path, pathlib.Path)
        parent = self.path.parent
        try:
            if not parent.exists():
                parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(parent, 0o700)
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                return False
            try:
                os.fchmod(fd, 0o600)
            finally:
                os.close(fd)
            return True
        except OSError as e:
            raise StoreError(f"cannot create store {self.path}: {e}") from e

    def _connect(self, created: bool = False) -> sqlite3.Connection:
        if self.readonly:
            return self._connect_readonly()
        target = self.path if self._memory else str(self.path)
        try:
            conn = sqlite3.connect(
                target, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as e:
            raise StoreError(f"cannot open store {self.path}: {e}") from e
        conn.row_factory = sqlite3.Row
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.path} has schema version {version}, newer than this "
                    f"tf_hptune understands ({SCHEMA_VERSION}); upgrade tf_hptune"
                )
            if not self._memory:
                self._enable_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            if version < SCHEMA_VERSION:
                self._create_schema(conn)
            else:
                self._check_application_id(conn)
        except StoreError:
            conn.close()
            raise
        except sqlite3.DatabaseError as e:
            conn.close()
            hint = "" if _is_busy(e) else " (is it an SQLite file written by tf_hptune?)"
            raise StoreError(f"cannot open store {self.path}: {e}{hint}") from e
        if created:
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.chmod(f"{self.path}{suffix}", 0o600)
        return conn

    def _connect_readonly(self) -> sqlite3.Connection:
        """A read-only connection. Where the WAL's shared-memory file cannot be made (a
        read-only mount), the file is read as immutable: nobody can be writing it there."""
        uri = f"file:{urllib.parse.quote(str(self.path))}?mode=ro"
        for target in (uri, uri + "&immutable=1"):
            conn = None
            try:
                conn = sqlite3.connect(target, uri=True, timeout=BUSY_TIMEOUT_S,
                                       isolation_level=None, check_same_thread=False)
                conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                version = conn.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.OperationalError as e:
                if conn is not None:
                    conn.close()
                if "unable to open" in str(e) and "immutable" not in target:
                    continue
                raise StoreError(f"cannot open store {self.path}: {e}") from e
            except sqlite3.DatabaseError as e:
                conn.close()  # type: ignore[union-attr]
                raise StoreError(f"cannot open store {self.path}: {e} (is it an SQLite file "
                                 "written by tf_hptune?)") from e
            if version != SCHEMA_VERSION:
                conn.close()
                raise StoreError(f"{self.path} is not a tf_hptune store this version reads "
                                 f"(schema version {version})")
            try:
                self._check_application_id(conn)
            except StoreError:
                conn.close()
                raise
            return conn
        raise AssertionError("unreachable")

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch to WAL (persistent in the file). Setting it does not always wait on the busy
        handler when another process opens the same new file, so retry until the timeout."""
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            return
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        delay = 0.001
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as e:
                if not _is_busy(e) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        if str(mode).lower() != "wal":
            raise StoreError(f"store {self.path}: cannot switch to WAL mode (got {mode!r})")

    def _check_application_id(self, conn: sqlite3.Connection) -> None:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id != APPLICATION_ID:
            raise StoreError(f"{self.path} is an SQLite file but not a tf_hptune store")

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have created the schema while we waited for the lock.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == SCHEMA_VERSION:
                self._check_application_id(conn)
            elif version == 0:
                count = conn.execute(
                    "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
                ).fetchone()[0]
                if count:
                    raise StoreError(f"{self.path} is an SQLite file but not a tf_hptune store")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            else:
                raise StoreError(f"store {self.path} has unknown schema version {version}")
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    # -- connection use ----------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        """The connection for this process; call with ``self._lock`` held."""
        if self._closed:
            raise StoreError(f"store {self.path} is closed")
        if self._conn is None:  # first use after a fork
            self._conn = self._connect()
        return self._conn

    def _check_fork(self) -> None:
        """In a forked child, leave the parent's connection alone and open a new one."""
        if self._pid == os.getpid():
            return
        self._lock = threading.Lock()  # the parent's may have been held at fork time
        self._pid = os.getpid()
        if self._conn is not None:
            _ABANDONED.append(self._conn)
            self._conn = None

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A consistent read snapshot; sqlite3 errors become ``StoreError``."""
        self._check_fork()
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN")
                try:
                    yield conn
                finally:
                    if conn.in_transaction:
                        conn.execute("COMMIT")
            except sqlite3.Error as e:
                raise StoreError(f"cannot read store {self.path}: {e}") from e

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A short ``BEGIN IMMEDIATE`` transaction, rolled back on any error."""
        self._check_fork()
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException as e:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                if isinstance(e, sqlite3.Error):
                    raise StoreError(self._write_error_message(e)) from e
                raise

    def _write_error_message(self, e: sqlite3.Error) -> str:
        text = str(e)
        if "full" in text.lower():
            return (
                f"cannot write to store {self.path}: {text}; free some disk space and retry "
                "(nothing of this change was saved)"
            )
        return f"cannot write to store {self.path}: {text} (nothing of this change was saved)"

    def close(self) -> None:
        """Close the connection; later calls raise ``StoreError``. Idempotent."""
        self._check_fork()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()

    def __enter__(self) -> SqliteStore:
        return self

    # -- jobs --------------------------------------------------------------------------------

    def create_job(
        self, name: str, config: Mapping[str, Any], launch: Mapping[str, Any]
    ) -> JobRecord:
        check_job_name(name)
        config_json = to_json("config", config)
        launch_json = to_json("launch", launch)
        try:
            with self._write() as conn:
                conn.execute(
                    "INSERT INTO jobs (name, state, config, launch, create_time) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (name, State.QUEUED.value, config_json, launch_json, time.time()),
                )
                return self._job(conn, name)
        except StoreError as e:
            if isinstance(e.__cause__, sqlite3.IntegrityError):
                raise JobExistsError(
                    f"job {name!r} already exists in store {self.path}"
                ) from None
            raise

    def get_job(self, name: str) -> JobRecord:
        with self._read() as conn:
            return self._job(conn, name)

    def list_jobs(self) -> list[JobRecord]:
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM jobs ORDER BY create_time, rowid").fetchall()
            return [self._job_record(row) for row in rows]

    def update_job(self, name: str, **fields: Any) -> JobRecord:
        values = check_job_fields(fields)
        if "state" in values:
            values["state"] = values["state"].value
        with self._write() as conn:
            self._require_job(conn, name)
            if values:
                assignments = ", ".join(f"{key} = ?" for key in values)
                conn.execute(
                    f"UPDATE jobs SET {assignments} WHERE name = ?", (*values.values(), name)
                )
            return self._job(conn, name)

    # -- trials ------------------------------------------------------------------------------

    def create_trial(self, job_name: str, trial_id: str, params: Mapping[str, Any]) -> TrialRecord:
        trial_id = check_trial_id(trial_id)
        params_json = to_json("params", params)
        try:
            with self._write() as conn:
                self._require_job(conn, job_name)
                conn.execute(
                    "INSERT INTO trials (job, trial_id, params, state, create_time) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (job_name, trial_id, params_json, State.QUEUED.value, time.time()),
                )
                return self._trial(conn, job_name, trial_id)
        except StoreError as e:
            if isinstance(e.__cause__, sqlite3.IntegrityError):
                raise StoreError(
                    f"trial {trial_id!r} of job {job_name!r} already exists in store {self.path}"
                ) from None
            raise

    def update_trial(self, job_name: str, trial_id: str, **fields: Any) -> TrialRecord:
        trial_id = check_trial_id(trial_id)
        values = check_trial_fields(fields)
        if "state" in values:
            values["state"] = values["state"].value
        if "stopped_early" in values:
            values["stopped_early"] = int(values["stopped_early"])
        if "final_value" in values:
            values["final_value"], values["final_value_nonfinite"] = _encode_float(
                values["final_value"])
        with self._write() as conn:
            self._require_trial(conn, job_name, trial_id)
            if values:
                assignments = ", ".join(f"{key} = ?" for key in values)
                conn.execute(
                    f"UPDATE trials SET {assignments} WHERE job = ? AND trial_id = ?",
                    (*values.values(), job_name, trial_id),
                )
            return self._trial(conn, job_name, trial_id)

    def add_measurements(
        self, job_name: str, trial_id: str, measurements: Iterable[Measurement]
    ) -> tuple[Measurement, ...]:
        trial_id = check_trial_id(trial_id)
        incoming = check_measurements(measurements)
        with self._write() as conn:
            self._require_trial(conn, job_name, trial_id)
            if not incoming:
                return ()
            existing = {
                step: _decode_float(value, nonfinite)
                for step, value, nonfinite in conn.execute(
                    "SELECT step, value, value_nonfinite FROM measurements "
                    "WHERE job = ? AND trial_id = ?",
                    (job_name, trial_id),
                )
            }
            changed = tuple(m for step, m in incoming.items()
                            if step not in existing
                            or not same_value(existing[step], m.value))  # type: ignore[arg-type]
            conn.executemany(
                "INSERT INTO measurements (job, trial_id, step, value, value_nonfinite, time) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (job, trial_id, step) DO UPDATE SET "
                "value = excluded.value, value_nonfinite = excluded.value_nonfinite, "
                "time = excluded.time",
                [(job_name, trial_id, m.step, *_encode_float(m.value), m.time) for m in changed],
            )
            return changed

    def get_trial(self, job_name: str, trial_id: str) -> TrialRecord:
        trial_id = check_trial_id(trial_id)
        with self._read() as conn:
            return self._trial(conn, job_name, trial_id)

    def list_trials(self, job_name: str) -> list[TrialRecord]:
        with self._read() as conn:
            self._require_job(conn, job_name)
            by_trial: dict[str, list[Measurement]] = {}
            for tid, step, value, nonfinite, when in conn.execute(
                "SELECT trial_id, step, value, value_nonfinite, time FROM measurements "
                "WHERE job = ? ORDER BY trial_id, step",
                (job_name,),
            ):
                by_trial.setdefault(tid, []).append(
                    Measurement(step, _decode_float(value, nonfinite), when)  # type: ignore
                )
            rows = conn.execute(
                "SELECT * FROM trials WHERE job = ? "
                "ORDER BY CAST(trial_id AS INTEGER), trial_id",
                (job_name,),
            ).fetchall()
            return [
                self._trial_record(row, by_trial.get(row["trial_id"], [])) for row in rows
            ]

    # -- helpers (called inside a transaction) -----------------------------------------------

    def _not_found(self, conn: sqlite3.Connection, name: str) -> JobNotFoundError:
        names = [row[0] for row in conn.execute("SELECT name FROM jobs")]
        close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return JobNotFoundError(f"job {name!r} not found in store {self.path}{hint}")

    def _require_job(self, conn: sqlite3.Connection, name: str) -> None:
        if conn.execute("SELECT 1 FROM jobs WHERE name = ?", (name,)).fetchone() is None:
            raise self._not_found(conn, name)

    def _require_trial(self, conn: sqlite3.Connection, job_name: str, trial_id: str) -> None:
        row = conn.execute(
            "SELECT 1 FROM trials WHERE job = ? AND trial_id = ?", (job_name, trial_id)
        ).fetchone()
        if row is None:
            self._require_job(conn, job_name)
            raise StoreError(f"job {job_name!r} has no trial {trial_id!r} in store {self.path}")

    def _job(self, conn: sqlite3.Connection, name: str) -> JobRecord:
        row = conn.execute("SELECT * FROM jobs WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise self._not_found(conn, name)
        return self._job_record(row)

    @staticmethod
    def _job_record(r: sqlite3.Row) -> JobRecord:
        return JobRecord(
            name=r["name"],
            state=State(r["state"]),
            config=json.loads(r["config"]),
            launch=json.loads(r["launch"]),
            info=json.loads(r["info"]),
            create_time=r["create_time"],
            start_time=r["start_time"],
            end_time=r["end_time"],
            error_message=r["error_message"],
            tuner_pid=r["tuner_pid"],
            tuner_host=r["tuner_host"],
        )

    def _trial(self, conn: sqlite3.Connection, job_name: str, trial_id: str) -> TrialRecord:
        row = conn.execute(
            "SELECT * FROM trials WHERE job = ? AND trial_id = ?", (job_name, trial_id)
        ).fetchone()
        if row is None:
            self._require_job(conn, job_name)
            raise StoreError(f"job {job_name!r} has no trial {trial_id!r} in store {self.path}")
        measurements = [
            Measurement(step, _decode_float(value, nonfinite), when)  # type: ignore[arg-type]
            for step, value, nonfinite, when in conn.execute(
                "SELECT step, value, value_nonfinite, time FROM measurements "
                "WHERE job = ? AND trial_id = ? ORDER BY step",
                (job_name, trial_id),
            )
        ]
        return self._trial_record(row, measurements)

    @staticmethod
    def _trial_record(row: sqlite3.Row, measurements: list[Measurement]) -> TrialRecord:
        return TrialRecord(
            job_name=row["job"],
            trial_id=row["trial_id"],
            params=json.loads(row["params"]),
            state=State(row["state"]),
            create_time=row["create_time"],
            start_time=row["start_time"],
            end_time=row["end_time"],
            final_step=row["final_step"],
            final_value=_decode_float(row["final_value"], row["final_value_nonfinite"]),
            stopped_early=bool(row["stopped_early"]),
            reason=row["reason"],
            log_tail=row["log_tail"],
            pid=row["pid"],
            trial_dir=row["trial_dir"],
            measurements=tuple(measurements),
        )


BACKENDS["sqlite"] = SqliteStore
