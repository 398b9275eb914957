"""The observe hook: a sitecustomize first on the trial's PYTHONPATH records where summary
writers are opened; TrialChannel reads those directories. TensorBoard's pure-Python writer,
kept from importing TensorFlow, stands in for TensorFlow's writers here (the real ones are in
tests/observe/test_tf_writers.py)."""
from __future__ import annotations

import itertools
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FAKE_PACKAGE, ROOT, make_spec
from tf_hptune.channel import TrialChannel, TrialPaths
from tf_hptune.channel.events import masked_crc32c
from tf_hptune.launch import LaunchConfig, build_request
from tf_hptune.observe import HOOK_DIR, MAX_DIRS, SUMMARY_DIRS_FILE, read_summary_dirs

event_pb2 = pytest.importorskip("tensorboard.compat.proto.event_pb2")
summary_pb2 = pytest.importorskip("tensorboard.compat.proto.summary_pb2")

WRITE = """
import sys, types
print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tensorboard')))
sys.modules['tensorboard.compat.notf'] = types.ModuleType('tensorboard.compat.notf')  # no TF
from tensorboard.summary.writer.event_file_writer import EventFileWriter
for d in sys.argv[1:]:
    EventFileWriter(d).close()
import sitecustomize
print(getattr(sitecustomize, 'MARK', None))
"""


def python(code, *args, env=None, pythonpath=(HOOK_DIR,), cwd=None):
    env = {k: v for k, v in os.environ.items() if k != "TF_HPTUNE_CONTROL_DIR"} | (env or {})
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=60)


_files = itertools.count()


def write_scalars(logdir, tag, points):
    """An event file of scalar summaries, framed as TFRecords."""
    os.makedirs(logdir, exist_ok=True)
    path = os.path.join(logdir, f"events.out.tfevents.{time.time():.0f}.test{next(_files)}")
    with open(path, "wb") as f:
        for step, value in points:
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag,
                                                                           simple_value=value)])
            data = event_pb2.Event(wall_time=time.time(), step=step,
                                   summary=summary).SerializeToString()
            header = struct.pack("<Q", len(data))
            f.write(header + struct.pack("<I", masked_crc32c(header)) + data
                    + struct.pack("<I", masked_crc32c(data)))


def test_the_launcher_puts_the_hook_first_on_the_trials_path(tmp_path):
    spec = make_spec([{"parameterName": "a", "type": "INTEGER", "minValue": 1, "maxValue": 2}])
    launch = LaunchConfig("trainer.task", str(FAKE_PACKAGE), str(tmp_path))
    cmd = build_request("job", "1", {"a": 1}, spec, launch)
    path = cmd.env["PYTHONPATH"].split(os.pathsep)
    assert path[:2] == [str(HOOK_DIR), str(FAKE_PACKAGE.parent)]
    assert (HOOK_DIR / "sitecustomize.py").is_file()


def test_inside_a_trial_writer_directories_are_recorded_once_without_importing_tf(tmp_path):
    control = tmp_path / "control"
    control.mkdir()
    proc = python(WRITE, "rel/train", tmp_path / "eval", "rel/train",
                  env={"TF_HPTUNE_CONTROL_DIR": str(control)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "[]"  # nothing imported before the trainer does
    assert read_summary_dirs(control) == [str(tmp_path / "rel" / "train"), str(tmp_path / "eval")]


def test_outside_a_trial_nothing_is_hooked(tmp_path):
    code = ("import sys, _tf_hptune_observe as o; "
            "print(any(isinstance(f, o._Finder) for f in sys.meta_path))")
    proc = python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_an_existing_sitecustomize_still_runs(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("MARK = 'theirs'\n")
    control = tmp_path / "control"
    control.mkdir()
    for env in ({}, {"TF_HPTUNE_CONTROL_DIR": str(control)}):
        proc = python(WRITE, tmp_path / "logs", env=env, pythonpath=(HOOK_DIR, other))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[-1] == "theirs"
    assert read_summary_dirs(control) == [str(tmp_path / "logs")]


def test_a_broken_sitecustomize_or_control_dir_never_breaks_the_trial(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("raise RuntimeError('their bug')\n")
    proc = python(WRITE, tmp_path / "logs", pythonpath=(HOOK_DIR, other),
                  env={"TF_HPTUNE_CONTROL_DIR": str(tmp_path / "missing")})
    assert proc.returncode == 0, proc.stderr
    assert "their bug" in proc.stderr
    assert list((tmp_path / "logs").iterdir())  # the writer itself worked


def trial_paths(tmp_path: Path) -> TrialPaths:
    paths = TrialPaths.for_trial(tmp_path / "job", "1")
    paths.job_dir.mkdir(parents=True)
    paths.control_dir.mkdir(parents=True)
    return paths


def record(paths: TrialPaths, *dirs) -> None:
    with open(paths.control_dir / SUMMARY_DIRS_FILE, "a", encoding="utf-8") as f:
        f.writelines(f"{d}\n" for d in dirs)


def test_the_channel_reads_recorded_directories_and_evaluations_still_win(tmp_path):
    paths = trial_paths(tmp_path)
    channel = TrialChannel(paths, "loss")
    model = tmp_path / "elsewhere" / "1"
    write_scalars(model, "loss", [(100, 9.0), (200, 8.0)])  # training summaries
    record(paths, model)
    assert channel.measurements() == [(100, 9.0), (200, 8.0)]
    write_scalars(model / "eval", "loss", [(100, 1.0), (200, 0.5)])
    record(paths, model / "eval")
    assert channel.measurements() == [(100, 1.0), (200, 0.5)]


def test_directories_inside_the_job_dir_are_read_once(tmp_path):
    paths = trial_paths(tmp_path)
    write_scalars(paths.job_dir / "eval", "loss", [(1, 1.0)])
    record(paths, paths.job_dir / "eval", paths.job_dir)
    channel = TrialChannel(paths, "loss")
    assert channel.measurements() == [(1, 1.0)]
    assert len(channel._events.event_files()) == 1


def test_bad_records_are_ignored(tmp_path):
    paths = trial_paths(tmp_path)
    good = tmp_path / "good"
    write_scalars(good, "loss", [(5, 2.0)])
    record(paths, "relative/dir", tmp_path / "missing", tmp_path / "a-file.txt", good)
    (tmp_path / "a-file.txt").write_text("x")
    with open(paths.control_dir / SUMMARY_DIRS_FILE, "a") as f:
        f.write(str(tmp_path / "half-written"))  # no newline yet
    assert read_summary_dirs(paths.control_dir) == [
        str(tmp_path / "missing"), str(tmp_path / "a-file.txt"), str(good)]
    assert TrialChannel(paths, "loss").measurements() == [(5, 2.0)]


def test_at_most_max_dirs_are_followed(tmp_path):
    paths = trial_paths(tmp_path)
    record(paths, *(tmp_path / f"d{i}" for i in range(MAX_DIRS + 10)))
    dirs = read_summary_dirs(paths.control_dir)
    assert len(dirs) == MAX_DIRS and dirs[0] == str(tmp_path / "d0")


def test_recorded_logdir_values(tmp_path):
    code = ("import _tf_hptune_observe as o, pathlib, json; print(json.dumps(["
            "o._as_local_dir(x) for x in ('a', b'b', pathlib.Path('c'), 'gs://b/d', '', None, "
            "'x\\ny')]))")
    proc = python(code, cwd=tmp_path)
    assert json.loads(proc.stdout) == [str(tmp_path / "a"), str(tmp_path / "b"),
                                       str(tmp_path / "c"), None, None, None, None]


def test_wrap_argument_changes_one_argument_of_functions_methods_and_staticmethods():
    from tf_hptune.observe.pythonpath._tf_hptune_observe import wrap_argument

    class Owner:
        def method(self, path, other=None):
            return path, other

        @staticmethod
        def static(path):
            return path

    def upper(value):
        return value.upper()

    wrap_argument(Owner, "method", 1, "path", upper, "test")
    wrap_argument(Owner, "method", 1, "path", upper, "test")  # once per mark
    wrap_argument(Owner, "static", 0, "path", upper, "test")
    assert Owner().method("a", "b") == ("A", "b")
    assert Owner().method(path="a") == ("A", None)
    assert Owner.static("a") == "A"
    assert Owner().static(path="a") == "A"  # still a staticmethod
    assert Owner.method.__name__ == "method" and Owner.method.__wrapped__.__name__ == "method"


def test_the_runtime_mode_loads_at_start_only_when_asked_else_with_tensorflow(tmp_path):
    control = tmp_path / "control"
    control.mkdir()
    code = ("import sys, builtins; print('tf_hptune.runtime.trial' in sys.modules, "
            "builtins.__import__.__name__)")
    trial = {"TF_HPTUNE_CONTROL_DIR": str(control)}
    plain = python(code, env=trial, pythonpath=(HOOK_DIR, ROOT))
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.split() == ["False", "__import__"]  # nothing until TensorFlow loads
    mode = python(code, env={**trial, "TF_HPTUNE_RUNTIME_VERSION": "1.15"},
                  pythonpath=(HOOK_DIR, ROOT))
    assert mode.returncode == 0, mode.stderr
    assert mode.stdout.split() == ["True", "tf1_import"]


def test_on_import_and_provide_hooks_run_in_a_trial(tmp_path):
    (tmp_path / "target.py").write_text("print('executing target')\n")
    control = tmp_path / "control"
    control.mkdir()
    code = """
import importlib.machinery, sys, _tf_hptune_observe as hook
hook.on_import('target', before=lambda: print('before'),
               after=lambda m: print('after', m.__name__))
class Loader:
    def create_module(self, spec): return None
    def exec_module(self, module): module.value = 42
hook.provide('made', lambda name: importlib.machinery.ModuleSpec(name, Loader()))
import target, made
print(made.value)
"""
    proc = python(code, env={"TF_HPTUNE_CONTROL_DIR": str(control)},
                  pythonpath=(HOOK_DIR, tmp_path, ROOT), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["before", "executing target", "after target", "42"]
