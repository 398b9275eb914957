"""Trials as Ray tasks, on any node of a cluster, their files relayed to the tuner.

Each trial is one Ray task that asks for the trial's GPUs (a fraction when packed) and CPUs.
On its node the task unpacks the trainer's package (shipped once through Ray's object store),
runs the trainer exactly as the local launcher does (``LocalLauncher``: its own process group,
argv only) with the trial's directories under a node-local root, and relays:

- node to tuner: the appended bytes of ``stdout.log``, ``stderr.log`` and
  ``measurements.jsonl``, the hypertune file when it changes, ``LISTENING`` and ``STOPPING``,
  and the measurements the node found in the trial's event files (into the tuner-side
  ``summaries.jsonl``, which ``TrialChannel`` reads as event data);
- tuner to node: the ``STOP`` request the Tuner writes, and terminate and kill.

Messages go through one small actor pinned to the tuner's node (the mailbox): the task posts what
changed and takes its commands every half second, the tuner collects at each poll. No disk is
shared; the tuner writes only the trial's tuner-side files, and the store is written by the
Study alone. The trainer's own outputs (checkpoints, exports) stay on its node, under the
directory ``node.json`` in the trial's control directory names.

A task whose worker or node dies ends its trial FAILED with the reason (or, with
``retry_lost``, starts it once more); a watchdog process kills the trainer when its worker is
gone. Without an address, a local Ray is started for the job (and shut down after it).
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from tf_hptune.channel import LISTENING_NAME, STOPPING_NAME, TrialChannel, TrialPaths
from tf_hptune.errors import LaunchError
from tf_hptune.files import make_private_dir
from tf_hptune.launch.base import Launcher, TrialHandle, TrialRequest
from tf_hptune.launch.local import LocalLauncher
from tf_hptune.launch.request import relocate
from tf_hptune.launch.watchdog import detach_watch

log = logging.getLogger("tf_hptune")

NODE_POLL = 0.5  # seconds between a task's exchanges with the mailbox
CHUNK = 4 << 20  # bytes of one file in one message
MAX_PACKAGE = 256 << 20  # the trainer package's zipped size
BACKSTOP = 30.0  # seconds after a terminate's grace (or a kill) before Ray cancels the task
APPENDED = ("stdout.log", "stderr.log", "measurements.jsonl")
NODE_FILE = "node.json"  # in the tuner-side control dir: where the trial runs


class Mailbox:
    """The actor between the tasks and the tuner: what each trial's node sent (``node``,
    collected by ``take``) and the commands waiting for it (``post``)."""

    def __init__(self) -> None:
        self._up: dict[str, list[dict[str, Any]]] = {}
        self._down: dict[str, list[tuple[Any, ...]]] = {}

    def node(self, key: str, update: dict[str, Any]) -> list[tuple[Any, ...]]:
        if update:
            self._up.setdefault(key, []).append(update)
        return self._down.pop(key, [])

    def post(self, key: str, command: tuple[Any, ...]) -> None:
        self._down.setdefault(key, []).append(command)

    def take(self, keys: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        return {k: self._up.pop(k) for k in keys if k in self._up}


# -- the node side -------------------------------------------------------------------------
class _Outbox:
    """What changed in a trial's node-side files since the last message."""

    def __init__(self, paths: TrialPaths, tag: str) -> None:
        self.paths = paths
        self.offsets = dict.fromkeys(APPENDED, 0)
        self.metrics_stamp: tuple[int, int] | None = None
        self.flags: set[str] = set()
        self.channel = TrialChannel(paths, tag)
        self.summaries: dict[int, float] = {}
        self.tags: set[str] = set()

    def collect(self) -> dict[str, Any]:
        update: dict[str, Any] = {}
        for name, offset in self.offsets.items():
            try:
                with open(self.paths.control_dir / name, "rb") as f:
                    f.seek(offset)
                    data = f.read(CHUNK)
            except OSError:
                continue
            if data:
                update.setdefault("append", {})[name] = (offset, data)
                self.offsets[name] = offset + len(data)
        try:
            st = self.paths.metric_file.stat()
            if (st.st_mtime_ns, st.st_size) != self.metrics_stamp:
                update["metrics"] = self.paths.metric_file.read_bytes()[:CHUNK]
                self.metrics_stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            pass
        for flag in (LISTENING_NAME, STOPPING_NAME):
            if flag not in self.flags and (self.paths.control_dir / flag).exists():
                self.flags.add(flag)
                update.setdefault("flags", []).append(flag)
        try:
            found, tags = self.channel.summaries()
        except OSError:
            found, tags = [], set()
        changed = [(s, v) for s, v in found if self.summaries.get(s) != v]
        if changed:
            self.summaries.update(changed)
            update["summaries"] = changed
        if tags - self.tags:
            update["tags"] = sorted(tags - self.tags)
            self.tags |= tags
        return update


def _unpack(package: tuple[str, Any], root: Path) -> str:
    """The trainer package on this node (unpacked once per node): the working directory."""
    digest, ref = package
    where = root / "packages" / digest
    if not where.is_dir():
        make_private_dir(root / "packages")
        partial = Path(tempfile.mkdtemp(dir=root / "packages"))
        with zipfile.ZipFile(io.BytesIO(ray.get(ref))) as archive:
            archive.extractall(partial)
        try:
            os.rename(partial, where)
        except OSError:  # another trial unpacked it first
            shutil.rmtree(partial, ignore_errors=True)
    return str(where)


def run_trial(request: TrialRequest, package: tuple[str, Any], mailbox: Any, key: str,
              root: str | None) -> int:
    """The Ray task of one trial: run it on this node, relay its files, obey the tuner's
    commands; returns its exit code (negative: the signal that ended it)."""
    node_root = Path(root or Path(tempfile.gettempdir()) / "tf_hptune_ray")
    make_private_dir(node_root)
    cwd = _unpack(package, node_root)
    # one directory per job (its job dir's digest: names repeat across stores) and attempt
    where = hashlib.sha256(str(request.paths.job_dir.parent).encode()).hexdigest()[:10]
    job_root = node_root / f"{request.job_name}-{where}-{key.rsplit('/', 1)[1]}"
    request = relocate(request, job_root, cwd)
    local = LocalLauncher(sys.executable)
    handle = local.start(request)
    assert handle.pid is not None
    detach_watch(os.getpid(), handle.pid)
    outbox = _Outbox(request.paths, request.env["CLOUD_ML_HP_METRIC_TAG"])
    info: dict[str, Any] | None = {
        "hostname": socket.gethostname(), "node_ip": ray.util.get_node_ip_address(),
        "node_id": ray.get_runtime_context().get_node_id(),
        "worker_pid": os.getpid(), "pid": handle.pid, "job_dir": str(request.paths.job_dir),
        "control_dir": str(request.paths.control_dir)}
    try:
        while True:
            code = local.poll(handle)
            update = outbox.collect()
            if info is not None:
                update["info"], info = info, None
            for command in ray.get(mailbox.node.remote(key, update)):
                if command[0] == "stop":
                    TrialChannel(request.paths, "").request_stop(command[1])
                elif command[0] == "terminate":
                    local.terminate(handle, command[1])
                elif command[0] == "kill":
                    local.kill(handle)
            if code is not None:
                break
            local.wait([handle], NODE_POLL)
        while update := outbox.collect():  # what the trial wrote last
            ray.get(mailbox.node.remote(key, update))
        return code
    except BaseException:  # the mailbox is gone (the tuner with it), or Ray cancelled us
        local.kill(handle)
        raise


# -- the tuner side ------------------------------------------------------------------------
@dataclass
class RayHandle(TrialHandle):
    """A trial's Ray task (``ref``) in its ``attempt``, its relay state, and where it runs
    (``node``, once its node said so; ``pid`` is the trainer's process there)."""

    request: TrialRequest | None = None
    ref: Any = None
    attempt: int = 1
    code: int | None = None
    node: dict[str, Any] = field(default_factory=dict)
    stop_sent: bool = False
    ending: bool = False  # terminate or kill was asked
    cancel_at: float | None = None  # when Ray cancels a task that did not end (the backstop)
    bases: dict[str, int] = field(default_factory=dict)  # earlier attempts' bytes per file

    @property
    def key(self) -> str:
        assert self.request is not None
        return f"{self.request.job_name}/{self.trial_id}/{self.attempt}"


class RayLauncher(Launcher):
    """Runs each trial as a Ray task on the cluster at ``address`` (None: a local Ray started
    for the job, unless this process already joined one). ``retry_lost``: a trial whose worker
    or node is lost starts once more. ``node_root``: where trials live on their nodes (default:
    the node's temporary directory)."""

    def __init__(self, address: str | None = None, *, retry_lost: bool = False,
                 node_root: str | None = None) -> None:
        self._owns = not ray.is_initialized()
        if self._owns:
            try:
                ray.init(address=address or "local", include_dashboard=False,
                         log_to_driver=False, logging_level=logging.WARNING)
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise LaunchError(f"cannot reach the Ray cluster at {address}: {e}") from e
        self.retry_lost = retry_lost
        self.node_root = node_root
        # pinned to the tuner's node, not merely preferred: on a head without CPUs (as Ray
        # advises for large clusters) a preference put it on a trial's node, whose loss then
        # failed every trial
        here = ray.get_runtime_context().get_node_id()
        self._mailbox = ray.remote(num_cpus=0)(Mailbox).options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote()
        self._task = ray.remote(run_trial)
        self._packages: dict[tuple[str, str], tuple[str, Any]] = {}

    def cluster_gpus(self) -> float:
        """The GPUs of the whole cluster, as Ray counts them."""
        return float(ray.cluster_resources().get("GPU", 0.0))

    def close(self) -> None:
        if self._owns and ray.is_initialized():
            ray.shutdown()

    def _package(self, cwd: str, module: str) -> tuple[str, Any]:
        """The trainer's top-level package (or module) under ``cwd``, zipped and put in Ray's
        object store once."""
        top = module.split(".")[0]
        cached = self._packages.get((cwd, top))
        if cached is not None:
            return cached
        source = Path(cwd) / top
        files = ([p for p in sorted(source.rglob("*")) if p.is_file()
                  and "__pycache__" not in p.parts] if source.is_dir()
                 else [source.with_suffix(".py")])
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.relative_to(cwd))
        data = buffer.getvalue()
        if len(data) > MAX_PACKAGE:
            raise LaunchError(f"the trainer package {source} is {len(data) >> 20} MiB zipped; "
                              f"at most {MAX_PACKAGE >> 20} MiB travel to the Ray nodes (keep "
                              "data files out of the package)")
        package = (hashlib.sha256(data).hexdigest()[:20], ray.put(data))
        self._packages[(cwd, top)] = package
        return package

    def start(self, request: TrialRequest) -> RayHandle:
        make_private_dir(request.paths.control_dir)
        make_private_dir(request.paths.job_dir)  # stays empty here: the trial writes on its node
        try:
            handle = RayHandle(request.trial_id, request=request)
            self._submit(handle)
        except ray.exceptions.RayError as e:
            raise LaunchError(f"cannot start trial {request.trial_id} on Ray: {e}") from e
        return handle

    def _submit(self, handle: RayHandle) -> None:
        request = handle.request
        assert request is not None
        share = request.resources
        handle.ref = self._task.options(
            num_cpus=share.threads or 1, num_gpus=share.gpu_count, max_retries=0,
            retry_exceptions=False, name=f"tf_hptune {request.job_name} trial {request.trial_id}",
        ).remote(request, self._package(request.cwd, request.module), self._mailbox,
                 handle.key, self.node_root)

    # -- the relay, tuner side ---------------------------------------------------------------
    def _sync(self, handles: Sequence[RayHandle]) -> None:
        """Forward new STOP requests, then write what the nodes sent into the trials'
        tuner-side files."""
        for h in handles:
            assert h.request is not None
            if not h.stop_sent and h.request.paths.stop_file.exists():
                reason = h.request.paths.stop_file.read_text(encoding="utf-8").strip()
                self._mailbox.post.remote(h.key, ("stop", reason))
                h.stop_sent = True
        if not handles:
            return
        try:
            updates = ray.get(self._mailbox.take.remote([h.key for h in handles]))
        except ray.exceptions.RayError as e:  # the trials' tasks fail too, and say why
            log.warning("tf_hptune: the Ray mailbox of the trials' files is gone: %s", e)
            return
        for h in handles:
            for update in updates.get(h.key, []):
                self._apply(h, update)

    def _apply(self, handle: RayHandle, update: dict[str, Any]) -> None:
        assert handle.request is not None
        paths = handle.request.paths
        for name, (offset, data) in update.get("append", {}).items():
            fd = os.open(paths.control_dir / name, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.pwrite(fd, data, handle.bases.get(name, 0) + offset)  # idempotent
            finally:
                os.close(fd)
        if "metrics" in update:
            _replace(paths.metric_file, update["metrics"])
        for flag in update.get("flags", []):
            (paths.control_dir / flag).touch()
        tag = handle.request.env["CLOUD_ML_HP_METRIC_TAG"]
        lines = [{"tag": tag, "step": s, "value": v} for s, v in update.get("summaries", [])]
        lines += [{"tag": t} for t in update.get("tags", [])]  # named when the tag is missing
        if lines:
            with open(paths.relayed_summaries, "a", encoding="utf-8") as f:
                f.write("".join(json.dumps(line) + "\n" for line in lines))
        if "info" in update:
            handle.node = {**update["info"], "attempt": handle.attempt}
            handle.pid = handle.node["pid"]
            _replace(paths.control_dir / NODE_FILE, json.dumps(handle.node, indent=1).encode())

    def wait(self, handles: Sequence[TrialHandle], timeout: float) -> None:
        live = [h for h in handles if isinstance(h, RayHandle) and h.code is None]
        if not live:
            time.sleep(timeout)
            return
        self._sync(live)
        ray.wait([h.ref for h in live], num_returns=1, timeout=timeout)

    def poll(self, handle: TrialHandle) -> int | None:
        assert isinstance(handle, RayHandle)
        if handle.code is not None:
            return handle.code
        done, _ = ray.wait([handle.ref], timeout=0)
        if not done:
            if handle.cancel_at is not None and time.monotonic() >= handle.cancel_at:
                ray.cancel(handle.ref, force=True)  # its node never ended it
                handle.cancel_at = None
            return None
        self._sync([handle])  # the task's last message came before its end
        try:
            code = int(ray.get(handle.ref))
        except ray.exceptions.RayTaskError as e:
            cause = e.cause if e.cause is not None else e
            if isinstance(cause, KeyboardInterrupt | ray.exceptions.TaskCancelledError):
                code = -signal.SIGKILL
            else:
                handle.failure = f"its Ray task failed on {self._where(handle)}: {cause}"
                code = 1
        except ray.exceptions.TaskCancelledError:
            code = -signal.SIGKILL
        except ray.exceptions.RayError as e:
            why = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e) else ''}"
            if self.retry_lost and handle.attempt == 1 and not handle.ending:
                self._retry(handle, why)
                return None
            handle.failure = (f"its Ray worker or node was lost on {self._where(handle)} ({why})"
                           + (" again, after one retry" if handle.attempt > 1 else ""))
            code = -signal.SIGKILL
        handle.code = code
        return code

    def _where(self, handle: RayHandle) -> str:
        return (f"{handle.node.get('hostname')} ({handle.node.get('node_ip')})"
                if handle.node else "a node that had not started it")

    def _retry(self, handle: RayHandle, why: str) -> None:
        assert handle.request is not None
        paths = handle.request.paths
        for name in APPENDED:
            try:
                handle.bases[name] = (paths.control_dir / name).stat().st_size
            except OSError:
                handle.bases[name] = 0
        with open(paths.stderr, "a", encoding="utf-8") as f:
            f.write(f"tf_hptune: trial {handle.trial_id} lost its Ray worker on "
                    f"{self._where(handle)} ({why}); starting it once more\n")
        handle.bases["stderr.log"] = paths.stderr.stat().st_size
        handle.attempt += 1
        handle.node, handle.pid, handle.stop_sent = {}, None, False
        self._submit(handle)

    def terminate(self, handle: TrialHandle, grace: float) -> None:
        assert isinstance(handle, RayHandle)
        self._end(handle, ("terminate", grace), grace)

    def kill(self, handle: TrialHandle) -> None:
        assert isinstance(handle, RayHandle)
        self._end(handle, ("kill",), 0.0)

    def _end(self, handle: RayHandle, command: tuple[Any, ...], grace: float) -> None:
        if handle.code is not None:
            return
        handle.ending = True
        if not handle.node:  # not started on a node yet (waiting for resources): never run it
            ray.cancel(handle.ref, force=False)
        self._mailbox.post.remote(handle.key, command)
        cancel_at = time.monotonic() + grace + BACKSTOP
        if handle.cancel_at is None or cancel_at < handle.cancel_at:
            handle.cancel_at = cancel_at


def _replace(path: Path, data: bytes) -> None:
    """Write a file whole, so that a reader sees the old or the new content."""
    partial = path.with_name(f".{path.name}.relay")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(partial, path)


__all__ = ["Mailbox", "RayHandle", "RayLauncher", "run_trial"]
