"""Record full evaluation curves of real TensorFlow training, for the early-stopping replay.

For each example trainer, draws configurations with a fixed seed and trains each one with the
trainer's own ``task.parse_args`` and ``model.train_and_evaluate``: the trainer builds its
Estimator and specs as usual, and only ``tf.estimator.train_and_evaluate`` is swapped for
``Estimator.train`` with a checkpoint listener that evaluates the metric at every checkpoint,
as Estimator evaluation does but without rebuilding the evaluation graph each time. Several
configurations run inside one worker process to amortise TensorFlow's start-up; at most
``--workers`` processes train at once, each on one thread.

Results go to ``benchmarks/data/curves_<example>.json.gz``, rewritten after every finished
configuration, so the script can be stopped and started again: done configurations are kept.

    .venv/bin/python benchmarks/record_curves.py [--examples babyweight census] [--configs 120]
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import json
import math
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(__file__).resolve().parent / "data"
FORMAT_VERSION = 1

Params = dict[str, Any]


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(math.log(low), math.log(high))))


def _sample_babyweight(rng: np.random.Generator) -> Params:
    return {
        "nembeds": int(rng.integers(3, 31)),
        "nnsize": int(rng.choice([4, 16, 32, 64, 128])),
        "learning_rate": round(_log_uniform(rng, 1e-3, 0.5), 6),
        "batch_size": int(rng.choice([32, 64, 128, 256, 512])),
    }


def _sample_census(rng: np.random.Generator) -> Params:
    return {
        "first_layer_size": int(rng.integers(4, 257)),
        "num_layers": int(rng.integers(1, 5)),
        "scale_factor": round(float(rng.uniform(0.25, 1.0)), 4),
        "learning_rate": round(_log_uniform(rng, 1e-4, 0.3), 7),
        "batch_size": int(rng.choice([16, 32, 64, 128, 256, 512])),
        "dropout": round(float(rng.uniform(0.0, 0.6)), 4),
    }


@dataclass(frozen=True)
class Example:
    """An example trainer: where it lives, what it optimizes, and how configurations vary."""

    name: str
    metric: str
    goal: str
    flags: tuple[str, ...]  # fixed flags of every run
    sample: Callable[[np.random.Generator], Params]

    @property
    def directory(self) -> Path:
        return ROOT / "trainer_examples" / self.name


EXAMPLES = {
    "babyweight": Example(
        "babyweight",
        "rmse",
        "MINIMIZE",
        ("--train_examples", "20000", "--eval_examples", "1000", "--train_steps", "1000",
         "--num_evals", "20", "--num_threads", "1"),
        _sample_babyweight,
    ),
    "census": Example(
        "census",
        "accuracy",
        "MAXIMIZE",
        ("--train_examples", "20000", "--eval_examples", "4000", "--train_steps", "1000",
         "--num_evals", "20", "--num_threads", "1"),
        _sample_census,
    ),
}


def sample_configs(example: Example, count: int, seed: int) -> list[Params]:
    """``count`` configurations, the same for the same seed (a prefix of a longer draw)."""
    rng = np.random.default_rng(seed)
    return [example.sample(rng) for _ in range(count)]


def output_path(out_dir: Path, example: Example) -> Path:
    return out_dir / f"curves_{example.name}.json.gz"


def load_results(path: Path, header: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Configurations already recorded in ``path`` under the same header, by index."""
    if not path.exists():
        return {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        saved = json.load(f)
    if {k: saved.get(k) for k in header} != header:
        raise SystemExit(f"{path} was recorded with other settings; move it away to re-record")
    return {run["index"]: run for run in saved["runs"]}


def save_results(path: Path, header: dict[str, Any], runs: dict[int, dict[str, Any]]) -> None:
    """Write all runs so far, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {**header, "runs": [runs[i] for i in sorted(runs)]}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write(json.dumps(doc, separators=(",", ":")).encode())
        os.chmod(tmp, 0o644)  # mkstemp made it private
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# --- worker side: one process per worker, TensorFlow imported once --------------------------


def _init_worker(example_dir: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver stops the pool
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, example_dir)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")


def _flag_args(params: Params) -> list[str]:
    return [item for name, value in params.items() for item in (f"--{name}", str(value))]


def _curve_listener(estimator: Any, eval_spec: Any, metric: str) -> Any:
    """A checkpoint listener that evaluates ``metric`` at every checkpoint after step 0.

    It evaluates exactly as ``Estimator.evaluate`` does (the estimator's own ``model_fn`` in
    EVAL mode, its ``eval_metric_ops``, over ``eval_spec``'s input and steps, restored from the
    new checkpoint), but builds the evaluation graph and session once per run instead of once
    per evaluation, which is most of an evaluation's cost for these small models.
    """
    import tensorflow as tf

    v1 = tf.compat.v1

    class CurveListener(tf.estimator.CheckpointSaverListener):
        def __init__(self) -> None:
            self.points: list[tuple[int, float]] = []

        def begin(self) -> None:
            self.graph = tf.Graph()
            with self.graph.as_default():
                v1.train.get_or_create_global_step()
                iterator = v1.data.make_initializable_iterator(eval_spec.input_fn())
                features, labels = iterator.get_next()
                spec = estimator.model_fn(
                    features, labels, tf.estimator.ModeKeys.EVAL, estimator.config
                )
                self.value, self.update = spec.eval_metric_ops[metric]
                self.reset = [iterator.initializer, v1.local_variables_initializer()]
                self.saver = v1.train.Saver()
                self.session = v1.Session(config=estimator.config.session_config)
                self.session.run(v1.tables_initializer())

        def after_save(self, session: Any, global_step_value: int) -> None:
            if global_step_value == 0:
                return  # the initial checkpoint; train_and_evaluate skips it too
            self.saver.restore(self.session, tf.train.latest_checkpoint(estimator.model_dir))
            self.session.run(self.reset)
            batches = 0
            while eval_spec.steps is None or batches < eval_spec.steps:
                try:
                    self.session.run(self.update)
                except tf.errors.OutOfRangeError:
                    break
                batches += 1
            self.points.append((int(global_step_value), float(self.session.run(self.value))))

        def end(self, session: Any, global_step_value: int) -> None:
            self.session.close()

    return CurveListener()


def run_config(task: tuple[str, int, Params]) -> dict[str, Any]:
    """Train one configuration to the end with the trainer's own code; its evaluation curve
    and wall time."""
    name, index, params = task
    example = EXAMPLES[name]
    import tensorflow as tf
    from trainer import model
    from trainer import task as trainer_task

    listeners = []

    def train_and_evaluate(estimator: Any, train_spec: Any, eval_spec: Any) -> None:
        listener = _curve_listener(estimator, eval_spec, example.metric)
        listeners.append(listener)
        estimator.train(
            train_spec.input_fn,
            hooks=train_spec.hooks,
            max_steps=train_spec.max_steps,
            saving_listeners=[listener],
        )

    with tempfile.TemporaryDirectory(prefix=f"curve_{name}_{index}_") as model_dir:
        args = trainer_task.parse_args(
            ["--job-dir", model_dir, *example.flags, *_flag_args(params)]
        )
        args.output_dir = model_dir
        start = time.monotonic()
        # tf.estimator is a lazy loader: patch the module it stands for.
        estimator_module = importlib.import_module(tf.estimator.__name__)
        with mock.patch.object(estimator_module, "train_and_evaluate", train_and_evaluate):
            model.train_and_evaluate(args)
        wall = time.monotonic() - start
    (listener,) = listeners
    return {
        "index": index,
        "params": params,
        "steps": [s for s, _ in listener.points],
        "values": [round(v, 6) for _, v in listener.points],
        "wall_seconds": round(wall, 2),
    }


# --- driver ---------------------------------------------------------------------------------


def record(example: Example, count: int, seed: int, workers: int, out_dir: Path) -> None:
    """Record ``count`` configurations of ``example``, skipping those already recorded."""
    configs = sample_configs(example, count, seed)
    header = {
        "format": FORMAT_VERSION,
        "example": example.name,
        "metric": example.metric,
        "goal": example.goal,
        "seed": seed,
        "flags": list(example.flags),
    }
    path = output_path(out_dir, example)
    runs = load_results(path, header)
    todo = [(example.name, i, p) for i, p in enumerate(configs) if i not in runs]
    print(f"[{example.name}] {len(runs)} recorded, {len(todo)} to go -> {path}", flush=True)
    if not todo:
        return
    start = time.monotonic()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(str(example.directory),)) as pool:
        for done, run in enumerate(pool.imap_unordered(run_config, todo), start=1):
            runs[run["index"]] = run
            save_results(path, header, runs)
            elapsed = time.monotonic() - start
            eta = elapsed / done * (len(todo) - done)
            final = run["values"][-1] if run["values"] else float("nan")
            print(
                f"[{example.name}] {done}/{len(todo)} config {run['index']}: "
                f"{example.metric} {final:.4f} after {len(run['steps'])} evals, "
                f"{run['wall_seconds']:.1f} s; elapsed {elapsed / 60:.1f} min, "
                f"eta {eta / 60:.1f} min",
                flush=True,
            )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", nargs="+", choices=sorted(EXAMPLES),
                        default=list(EXAMPLES))
    parser.add_argument("--configs", type=int, default=120, help="configurations per example")
    parser.add_argument("--workers", type=int, default=2, help="training processes at once")
    parser.add_argument("--seed", type=int, default=5, help="seed of the configuration draw")
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        for name in args.examples:
            record(EXAMPLES[name], args.configs, args.seed, args.workers, args.out_dir)
    except KeyboardInterrupt:
        print("stopped; what was recorded is kept, run again to resume", flush=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
