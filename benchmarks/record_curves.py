"""Record full evaluation curves of real TensorFlow training, for the early-stopping replay.

Two kinds of example. The Estimator examples (``babyweight``, ``census``) are the bundled
trainers: each configuration runs the trainer's own ``task.parse_args`` and
``model.train_and_evaluate``, and only ``tf.estimator.train_and_evaluate`` is swapped for
``Estimator.train`` with a checkpoint listener that evaluates the metric at every checkpoint,
as Estimator evaluation does but without rebuilding the evaluation graph each time. The Keras
examples are small ``model.fit`` jobs on a fixed synthetic teacher problem (``keras_trainer``),
chosen so that how fast a configuration learns and where it ends disagree:
- ``lr_batch``: SGD with momentum, learning rates over two decades with batch sizes 16 to 256
  (large steps learn fast and end on a higher, noisier floor);
- ``schedule``: Adam with learning-rate warm-up and constant, cosine or step decay (plateaus,
  then drops when the rate decays);
- ``keras_epochs``: a classifier evaluated once per epoch, 8 epochs (val accuracy);
- ``init_scale``: a regression on targets with an offset, weights initialised at scales from
  0.3 to 5 (the first evaluation mostly shows the initialisation and how fast the offset is
  learnt, not where the run ends).
Several configurations run inside one worker process to amortise TensorFlow's start-up; at
most ``--workers`` processes train at once, each on one thread.

Results go to ``benchmarks/data/curves_<example>.json.gz``, rewritten after every finished
configuration, so the script can be stopped and started again: done configurations are kept.

    .venv/bin/python benchmarks/record_curves.py [--examples babyweight ...] [--configs 120]
"""

from __future__ import annotations

import argparse
import functools
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


def _sample_lr_batch(rng: np.random.Generator) -> Params:
    return {
        "learning_rate": round(_log_uniform(rng, 1e-3, 0.1), 6),
        "batch_size": int(rng.choice([16, 64, 256])),
        "units": int(rng.choice([32, 128])),
    }


def _sample_schedule(rng: np.random.Generator) -> Params:
    return {
        "learning_rate": round(_log_uniform(rng, 3e-4, 3e-2), 6),
        "warmup": float(rng.choice([0.0, 0.1, 0.3])),
        "decay": str(rng.choice(["constant", "cosine", "step"])),
        "units": int(rng.choice([32, 128])),
    }


def _sample_keras_epochs(rng: np.random.Generator) -> Params:
    return {
        "learning_rate": round(_log_uniform(rng, 1e-4, 1e-2), 7),
        "units": int(rng.choice([16, 64, 256])),
        "layers": int(rng.integers(1, 4)),
        "dropout": round(float(rng.uniform(0.0, 0.5)), 4),
    }


def _sample_init_scale(rng: np.random.Generator) -> Params:
    return {
        "learning_rate": round(_log_uniform(rng, 3e-4, 3e-2), 6),
        "init_scale": round(_log_uniform(rng, 0.3, 5.0), 4),
        "units": int(rng.choice([16, 64, 256])),
        "l2": round(_log_uniform(rng, 1e-6, 1e-3), 8),
    }


@dataclass(frozen=True)
class Example:
    """An example trainer: what it optimizes, its fixed flags and how configurations vary.
    ``trainer`` is ``"estimator"`` (the bundled ``trainer_examples/<name>``) or ``"keras"``
    (``keras_trainer`` below)."""

    name: str
    metric: str
    goal: str
    flags: tuple[str, ...]  # fixed flags of every run
    sample: Callable[[np.random.Generator], Params]
    trainer: str = "estimator"

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
    "lr_batch": Example(
        "lr_batch", "loss", "MINIMIZE",
        ("--optimizer", "sgd", "--train_steps", "1500", "--num_evals", "20"),
        _sample_lr_batch, "keras",
    ),
    "schedule": Example(
        "schedule", "loss", "MINIMIZE",
        ("--optimizer", "adam", "--train_steps", "1500", "--num_evals", "20"),
        _sample_schedule, "keras",
    ),
    "keras_epochs": Example(
        "keras_epochs", "accuracy", "MAXIMIZE",
        ("--problem", "classification", "--optimizer", "adam", "--train_steps", "1000",
         "--num_evals", "8"),  # 8000 rows at batch 64: one evaluation per epoch
        _sample_keras_epochs, "keras",
    ),
    "init_scale": Example(
        "init_scale", "loss", "MINIMIZE",
        ("--optimizer", "adam", "--offset", "3", "--train_steps", "1000", "--num_evals", "20"),
        _sample_init_scale, "keras",
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


def _init_worker(example_dir: str | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver stops the pool
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if example_dir:
        sys.path.insert(0, example_dir)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


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


def keras_flags(argv: list[str]) -> argparse.Namespace:
    """The Keras trainer's flags: fixed ones and hyperparameters alike."""
    p = argparse.ArgumentParser(prog="keras_trainer")
    p.add_argument("--problem", choices=["regression", "classification"], default="regression")
    p.add_argument("--offset", type=float, default=0.0, help="added to regression targets")
    p.add_argument("--train_examples", type=int, default=8000)
    p.add_argument("--eval_examples", type=int, default=2000)
    p.add_argument("--train_steps", type=int, default=1000)
    p.add_argument("--num_evals", type=int, default=20)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="adam")
    p.add_argument("--learning_rate", type=float, default=1e-3)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--warmup", type=float, default=0.0, help="fraction of the steps")
    p.add_argument("--decay", choices=["constant", "cosine", "step"], default="constant")
    p.add_argument("--units", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--l2", type=float, default=0.0)
    p.add_argument("--init_scale", type=float, default=1.0)
    return p.parse_args(argv)


@functools.lru_cache(maxsize=2)
def teacher_data(problem: str, offset: float, n_train: int, n_eval: int
                 ) -> tuple[np.ndarray, ...]:
    """A fixed problem: 20 Gaussian inputs, a random two-layer tanh teacher (output sd about
    1); regression targets are ``offset`` + teacher + noise (sd 0.3), classes are drawn
    with probability sigmoid(3 * teacher) (the best accuracy is about 0.85)."""
    rng = np.random.default_rng(20240517)
    x = rng.normal(size=(n_train + n_eval, 20))
    hidden = np.tanh(x @ rng.normal(size=(20, 32)) / np.sqrt(20.0))
    f = hidden @ rng.normal(size=32) / np.sqrt(32.0)
    f = (f - f.mean()) / f.std()
    if problem == "regression":
        y = offset + f + 0.3 * rng.normal(size=len(f))
    else:
        y = (rng.uniform(size=len(f)) < 1.0 / (1.0 + np.exp(-3.0 * f))).astype(float)
    x, y = x.astype(np.float32), y.astype(np.float32)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def keras_trainer(argv: list[str], seed: int) -> list[tuple[int, float]]:
    """Train a small Keras MLP with ``model.fit``, evaluating ``num_evals`` times at equal
    intervals (the optimizer's iteration count is the step); the (step, value) points."""
    import tensorflow as tf

    args = keras_flags(argv)
    x, y, x_eval, y_eval = teacher_data(args.problem, args.offset, args.train_examples,
                                        args.eval_examples)
    tf.keras.utils.set_random_seed(seed)
    init = tf.keras.initializers.VarianceScaling(args.init_scale**2, "fan_in", "truncated_normal")
    reg = tf.keras.regularizers.l2(args.l2) if args.l2 else None
    layers: list[Any] = [tf.keras.Input(shape=(x.shape[1],))]
    for _ in range(args.layers):
        layers.append(tf.keras.layers.Dense(args.units, activation="relu",
                                            kernel_initializer=init, kernel_regularizer=reg))
        if args.dropout:
            layers.append(tf.keras.layers.Dropout(args.dropout))
    layers.append(tf.keras.layers.Dense(1, kernel_initializer=init))
    model = tf.keras.Sequential(layers)

    total, peak = args.train_steps, args.learning_rate
    warm = max(1.0, args.warmup * total)

    def rate(step: Any) -> Any:
        step = tf.cast(step, tf.float32)
        factor = tf.minimum(1.0, (step + 1.0) / warm) if args.warmup else tf.constant(1.0)
        if args.decay == "cosine":
            factor *= 0.01 + 0.99 * 0.5 * (1.0 + tf.cos(np.pi * tf.minimum(step / total, 1.0)))
        elif args.decay == "step":  # a tenth at half the run, a hundredth at three quarters
            factor *= tf.where(step >= 0.5 * total, 0.1, 1.0) * tf.where(
                step >= 0.75 * total, 0.1, 1.0)
        return peak * factor

    class Schedule(tf.keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step: Any) -> Any:
            return rate(step)

    optimizer = (tf.keras.optimizers.SGD(Schedule(), momentum=args.momentum)
                 if args.optimizer == "sgd" else tf.keras.optimizers.Adam(Schedule()))
    if args.problem == "regression":
        model.compile(optimizer, tf.keras.losses.MeanSquaredError(),
                      metrics=[tf.keras.metrics.MeanSquaredError(name="mse")])
        key = "val_mse"  # the data loss, without the l2 penalty
    else:
        model.compile(optimizer, tf.keras.losses.BinaryCrossentropy(from_logits=True),
                      metrics=[tf.keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")])
        key = "val_accuracy"
    data = (tf.data.Dataset.from_tensor_slices((x, y))
            .shuffle(len(y), seed=seed).repeat().batch(args.batch_size))
    every = total // args.num_evals
    history = model.fit(data, epochs=args.num_evals, steps_per_epoch=every,
                        validation_data=(x_eval, y_eval), validation_batch_size=1000, verbose=0)
    return [((k + 1) * every, float(v)) for k, v in enumerate(history.history[key])]


def run_config(task: tuple[str, int, Params]) -> dict[str, Any]:
    """Train one configuration to the end with the trainer's own code; its evaluation curve
    and wall time."""
    name, index, params = task
    example = EXAMPLES[name]
    if example.trainer == "keras":
        start = time.monotonic()
        points = keras_trainer([*example.flags, *_flag_args(params)], seed=index)
        return _run_record(index, params, points, time.monotonic() - start)
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
    return _run_record(index, params, listener.points, wall)


def _run_record(index: int, params: Params, points: list[tuple[int, float]], wall: float
                ) -> dict[str, Any]:
    return {
        "index": index,
        "params": params,
        "steps": [s for s, _ in points],
        "values": [round(v, 6) for _, v in points],
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
    directory = str(example.directory) if example.trainer == "estimator" else None
    with ctx.Pool(workers, initializer=_init_worker, initargs=(directory,)) as pool:
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
