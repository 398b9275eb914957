"""The trial side of ``tune()``: ``python -m tf_hptune.train_fn --train-fn REF`` runs the user's
``train_fn(params, context)`` as a trial's main, in a fresh process or (``in_process=True``) in
a thread of the notebook's (``tf_hptune.launch.inprocess``).

``REF`` is a payload file written by ``dump_function`` (the function by module and name when a
fresh process can import it, else pickled by value with cloudpickle), or a ``local:`` key of a
function registered in this process. Never imports TensorFlow; the function does.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pickle
import sys
from collections.abc import Callable
from typing import Any, SupportsFloat

from tf_hptune.channel.jsonl import JsonlReader
from tf_hptune.context import TrialContext, trial_context
from tf_hptune.errors import UsageError
from tf_hptune.report import report

LOCAL_PREFIX = "local:"
_LOCAL: dict[str, Callable[..., Any]] = {}
_PAYLOAD_VERSION = 1


class TrainContext:
    """What ``train_fn(params, context)`` gets beside its params: the trial's identity, a
    reporter of the job's metric and the tuner's stop requests."""

    def __init__(self, trial: TrialContext) -> None:
        self._trial = trial
        self.params: dict[str, Any] = dict(trial.hyperparameters)
        self.trial_id = trial.trial_id
        self.job_name = trial.job_id
        self.metric_tag = trial.metric_tag
        self.job_dir = trial.job_dir  # the trial's own directory, for checkpoints and summaries
        self.last_step: int | None = None

    def report(self, value: SupportsFloat, step: int | None = None) -> None:
        """Report the job's metric at training ``step`` (default: the last step reported
        through this context plus one)."""
        step = (self.last_step or 0) + 1 if step is None else int(step)
        report(self.metric_tag, value, step, checkpoint_path="", caller="context.report")
        self.last_step = step

    def should_stop(self) -> bool:
        """Whether the tuner asks this trial to stop (early stopping or a cancel): end training
        soon and return; the trial then keeps what it reported."""
        return self._trial.stop_requested()


# -- the function, from the tuner's process to the trial's -----------------------------------
def register_local(fn: Callable[..., Any]) -> str:
    """A ``REF`` for ``fn`` that only this process can run (``in_process=True``)."""
    key = f"{LOCAL_PREFIX}{id(fn)}"
    _LOCAL[key] = fn
    return key


def _by_reference(fn: Callable[..., Any]) -> tuple[str, str] | None:
    """``(module, qualname)`` when importing them in a fresh process gives ``fn`` back."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return None
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return (module, qualname) if obj is fn else None


def _where(fn: Callable[..., Any]) -> str:
    qualname = getattr(fn, "__qualname__", type(fn).__name__)
    if getattr(fn, "__module__", None) == "__main__":
        return f"{qualname!r} is defined in the notebook or script (__main__)"
    if "<" in qualname:
        return f"{qualname!r} is defined inside another function"
    return f"{qualname!r} cannot be imported by its name"


def dump_function(fn: Callable[..., Any]) -> bytes:
    """``fn`` as a payload a fresh trial process can load: by module and name when it can be
    imported, else pickled by value (cloudpickle). ``UsageError`` says why it cannot be."""
    if not callable(fn):
        raise UsageError(f"train_fn must be a function train_fn(params, context), got "
                         f"{type(fn).__name__}")
    payload: dict[str, Any] = {"version": _PAYLOAD_VERSION, "cwd": os.getcwd(),
                               "sys_path": list(sys.path)}
    target = _by_reference(fn)
    if target is not None:
        payload["module"], payload["qualname"] = target
        return pickle.dumps(payload)
    try:
        import cloudpickle
    except ImportError:
        raise UsageError(
            f"train_fn {_where(fn)}, which a fresh trial process cannot import, and cloudpickle, "
            "which would send it by value, is not installed. Install it (pip install "
            "cloudpickle, or 'tf-hptune[notebook]'), define train_fn in a module, or pass "
            "in_process=True") from None
    try:
        data = cloudpickle.dumps(fn)
        pickle.loads(data)
    except Exception as e:
        raise UsageError(
            f"train_fn {_where(fn)} and cannot be pickled for a fresh trial process: "
            f"{type(e).__name__}: {e}. It must not capture what cannot be pickled (a model, a "
            "dataset, a session, a lock, an open file): build those inside train_fn, or pass "
            "in_process=True") from None
    payload["pickled"] = data
    return pickle.dumps(payload)


def load_function(ref: str) -> Callable[..., Any]:
    """The function ``ref`` names; a payload also restores the tuner's working directory and
    import path."""
    if ref.startswith(LOCAL_PREFIX):
        # This module may run as a ``runpy`` copy: the registry is the imported module's.
        registry = importlib.import_module("tf_hptune.train_fn")._LOCAL
        if ref not in registry:
            raise UsageError(f"train_fn {ref} belongs to the process that ran "
                             "tune(..., in_process=True); continue the job from there with "
                             "tune(..., resume=True)")
        return registry[ref]
    with open(ref, "rb") as f:
        payload = pickle.load(f)
    if payload.get("version") != _PAYLOAD_VERSION:
        raise UsageError(f"{ref}: unknown train_fn payload version {payload.get('version')!r}")
    sys.path.extend(p for p in payload["sys_path"] if p not in sys.path)
    if os.path.isdir(payload["cwd"]):
        os.chdir(payload["cwd"])
    if "pickled" in payload:
        return pickle.loads(payload["pickled"])
    obj: Any = importlib.import_module(payload["module"])
    for part in payload["qualname"].split("."):
        obj = getattr(obj, part)
    return obj


# -- the trial's main ------------------------------------------------------------------------
def _final_value(result: Any) -> float:
    if isinstance(result, bool) or not hasattr(result, "__float__"):
        raise TypeError(f"train_fn returned {type(result).__name__} ({result!r:.80}); return "
                        "the final metric as a number, or None when it was reported")
    return float(result)


def _last_step(trial: TrialContext, context: TrainContext) -> int:
    """The highest step reported for the metric in this trial, by any reporter."""
    steps = [] if context.last_step is None else [context.last_step]
    if trial.paths is not None:
        steps += [s for s, _ in JsonlReader(trial.paths.measurements, trial.metric_tag)
                  .read_new()]
    return max(steps, default=0)


def run(fn: Callable[..., Any], trial: TrialContext) -> None:
    """Call ``fn(params, context)``; a returned number is the trial's final metric, reported
    at the last step reported so far (0 when none was)."""
    context = TrainContext(trial)
    result = fn(dict(context.params), context)
    if result is None:
        return
    report(trial.metric_tag, _final_value(result), _last_step(trial, context), checkpoint_path="",
           caller="train_fn's return value")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tf_hptune.train_fn")
    parser.add_argument("--train-fn", required=True, help="a payload file or a local: key")
    # --job-dir and the hyperparameters follow; the typed values come from the environment
    args, _ = parser.parse_known_args(argv)
    run(load_function(args.train_fn), trial_context())
    return 0


if __name__ == "__main__":
    sys.exit(main())
