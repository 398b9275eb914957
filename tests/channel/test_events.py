"""Tests of the TensorFlow-free event file reader against files written by real TensorFlow."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

from tf_hptune.channel.events import (
    EventDirectoryScanner,
    EventFileReader,
    ScalarEvent,
    crc32c,
    masked_crc32c,
)

tf = pytest.importorskip("tensorflow")


# ---------------------------------------------------------------------------------------------
# Helpers


def event_files(root) -> list[str]:
    out = []
    for dirpath, _, files in os.walk(root):
        out += [os.path.join(dirpath, f) for f in files if f.startswith("events.out.tfevents.")]
    return sorted(out)


def only_file(root) -> str:
    (path,) = event_files(root)
    return path


def tf_timed_scalars(path: str) -> list[tuple[str, int, float, float]]:
    """What TensorFlow itself reads as scalar summaries in an event file, with each event's
    wall time."""
    out = []
    for event in tf.compat.v1.train.summary_iterator(path):
        for value in event.summary.value:
            if value.HasField("simple_value"):
                out.append((value.tag, event.step, float(value.simple_value), event.wall_time))
            elif value.HasField("tensor"):
                array = tf.make_ndarray(value.tensor)
                if array.size == 1 and array.dtype.kind in "fiub":
                    out.append((value.tag, event.step, float(array.reshape(())),
                                event.wall_time))
    return out


def tf_scalars(path: str) -> list[tuple[str, int, float]]:
    return [item[:3] for item in tf_timed_scalars(path)]


def ours(path: str) -> list[tuple[str, int, float]]:
    return [(e.tag, e.step, e.value) for e in EventFileReader(path).read_new()]


def record(data: bytes) -> bytes:
    """One TFRecord frame."""
    header = struct.pack("<Q", len(data))
    return (
        header
        + struct.pack("<I", masked_crc32c(header))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


def write_tf2_scalars(logdir, tag: str, steps, offset: float = 0.0) -> None:
    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        for step in steps:
            tf.summary.scalar(tag, offset + 0.5 * step, step=step)
    writer.close()


# ---------------------------------------------------------------------------------------------
# Framing


def test_crc32c_known_vectors():
    assert crc32c(b"") == 0
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"\x00" * 32) == 0x8A9136AA
    data = os.urandom(1001)
    assert crc32c(data[500:], crc32c(data[:500])) == crc32c(data)


def test_importing_events_does_not_import_tensorflow():
    code = (
        "import sys, tf_hptune.channel.events\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tensorboard')\n"
        "       or m.startswith('google.protobuf')]\n"
        "assert not bad, bad\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


# ---------------------------------------------------------------------------------------------
# (a) TF2 tensor summaries


def test_tf2_scalar_summaries_match_tensorflow(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        for step in range(5):
            tf.summary.scalar("rmse", 1.0 / (step + 1), step=step)
            tf.summary.scalar("scope/accuracy", 0.1 * step, step=step)
            tf.summary.histogram("weights", tf.random.normal([20]), step=step)
            tf.summary.text("note", "not a number", step=step)
            tf.summary.image("img", tf.zeros([1, 2, 2, 1]), step=step)
            tf.summary.write("int64_scalar", tf.constant(-7 * step, tf.int64), step=step)
            tf.summary.write("double_scalar", tf.constant(2.25, tf.float64), step=step)
            tf.summary.write("vector", tf.constant([1.0, 2.0]), step=step)
    writer.close()
    path = only_file(tmp_path)
    got = ours(path)
    assert got == tf_scalars(path)
    tags = {tag for tag, _, _ in got}
    assert tags == {"rmse", "scope/accuracy", "int64_scalar", "double_scalar"}
    rmse = [(step, value) for tag, step, value in got if tag == "rmse"]
    assert rmse == [(s, pytest.approx(1.0 / (s + 1), rel=1e-6)) for s in range(5)]
    assert [v for t, _, v in got if t == "int64_scalar"] == [0, -7, -14, -21, -28]
    events = EventFileReader(path).read_new()
    assert all(isinstance(e, ScalarEvent) and e.wall_time > 1e9 for e in events)


def test_every_tensor_encoding(tmp_path):
    """Scalars in every TensorProto layout: typed value lists and raw tensor_content."""
    from tensorflow.core.framework import tensor_pb2, types_pb2

    cases: list[tuple[str, np.ndarray, float | None]] = [
        ("f32", np.array(1.5, np.float32), 1.5),
        ("f64", np.array(-2.125, np.float64), -2.125),
        ("f16", np.array(0.5, np.float16), 0.5),
        ("i32", np.array(-5, np.int32), -5.0),
        ("i64", np.array(-(2**40), np.int64), float(-(2**40))),
        ("u8", np.array(200, np.uint8), 200.0),
        ("i8", np.array(-3, np.int8), -3.0),
        ("bool", np.array(True), 1.0),
        ("shape1", np.array([4.0], np.float32), 4.0),
        ("shape11", np.array([[6.0]], np.float64), 6.0),
        ("vector", np.array([1.0, 2.0], np.float32), None),
        ("empty", np.zeros([0], np.float32), None),
        ("string", np.array(b"text"), None),
    ]
    protos: list[tuple[str, object]] = []
    for tag, array, _ in cases:
        listed = tf.make_tensor_proto(array)
        protos.append((tag, listed))
        if array.dtype.kind != "S" and array.size:
            raw = tensor_pb2.TensorProto(
                dtype=listed.dtype,
                tensor_shape=listed.tensor_shape,
                tensor_content=array.tobytes(),
            )
            protos.append((tag, raw))
    bf16 = types_pb2.DT_BFLOAT16
    protos.append(("bf16", tensor_pb2.TensorProto(dtype=bf16, half_val=[0x4040])))
    protos.append(("bf16", tensor_pb2.TensorProto(dtype=bf16, tensor_content=b"\x40\x40")))
    protos.append(("zero", tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)))
    expected = {tag: value for tag, _, value in cases if value is not None}
    expected |= {"bf16": 3.0, "zero": 0.0}

    path = tmp_path / "events.out.tfevents.1.encodings"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for step, (tag, proto) in enumerate(protos):
            summary = tf.compat.v1.Summary(
                value=[tf.compat.v1.Summary.Value(tag=tag, tensor=proto)]
            )
            event = tf.compat.v1.Event(wall_time=123.5, step=step, summary=summary)
            writer.write(event.SerializeToString())
    got: dict[str, list[float]] = {}
    for event in EventFileReader(path).read_new():
        got.setdefault(event.tag, []).append(event.value)
        assert event.wall_time == 123.5
    assert set(got) == set(expected)
    for tag, values in got.items():
        assert all(v == expected[tag] for v in values), (tag, values)
    assert len(got["f32"]) == 2 and len(got["i64"]) == 2  # value list and tensor_content
    ours_no_bf16 = [item for item in ours(str(path)) if item[0] != "bf16"]
    assert ours_no_bf16 == [item for item in tf_scalars(str(path)) if item[0] != "bf16"]


# ---------------------------------------------------------------------------------------------
# (b) TF1 simple_value summaries


def test_tf1_simple_value_summaries(tmp_path):
    with tf.Graph().as_default():
        x = tf.compat.v1.placeholder(tf.float32, [])
        op = tf.compat.v1.summary.scalar("graph_scalar", x)
        writer = tf.compat.v1.summary.FileWriter(
            str(tmp_path), graph=tf.compat.v1.get_default_graph()
        )
        with tf.compat.v1.Session() as sess:
            for step in range(3):
                writer.add_summary(sess.run(op, {x: step * 1.25}), global_step=step)
        values = [tf.compat.v1.Summary.Value(tag="acc", simple_value=v) for v in (0.0, 0.75)]
        writer.add_summary(tf.compat.v1.Summary(value=values[:1]), global_step=10)
        writer.add_summary(tf.compat.v1.Summary(value=values[1:]), global_step=20)
        writer.close()
    path = only_file(tmp_path)
    got = ours(path)
    assert got == tf_scalars(path)
    assert [(s, v) for t, s, v in got if t == "graph_scalar"] == [(0, 0.0), (1, 1.25), (2, 2.5)]
    assert [(s, v) for t, s, v in got if t == "acc"] == [(10, 0.0), (20, 0.75)]


# ---------------------------------------------------------------------------------------------
# (c) A real Estimator with an evaluation metric added by add_metrics


@pytest.fixture(scope="module")
def estimator_dir(tmp_path_factory):
    if not hasattr(tf, "estimator"):
        pytest.skip(f"TensorFlow {tf.__version__} has no tf.estimator")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("TF_CONFIG", raising=False)
        model_dir = str(tmp_path_factory.mktemp("estimator") / "model")
        rng = np.random.default_rng(0)
        x = rng.uniform(-1, 1, size=(512, 1)).astype(np.float32)
        y = (3.0 * x[:, 0] + 1.0 + rng.normal(0, 0.1, size=512)).astype(np.float32)

        def input_fn(train: bool):
            def fn():
                ds = tf.data.Dataset.from_tensor_slices(({"x": x}, y))
                return ds.repeat().batch(32) if train else ds.batch(64)

            return fn

        def rmse(labels, predictions):
            metric = tf.compat.v1.metrics.root_mean_squared_error
            return {"rmse": metric(labels, predictions["predictions"])}

        config = tf.estimator.RunConfig(
            model_dir=model_dir,
            save_checkpoints_steps=20,
            save_summary_steps=5,
            log_step_count_steps=50,
        )
        estimator = tf.estimator.LinearRegressor(
            [tf.feature_column.numeric_column("x")], config=config
        )
        estimator = tf.estimator.add_metrics(estimator, rmse)
        tf.estimator.train_and_evaluate(
            estimator,
            tf.estimator.TrainSpec(input_fn(True), max_steps=50),
            tf.estimator.EvalSpec(input_fn(False), steps=4, start_delay_secs=0, throttle_secs=0),
        )
    return model_dir


def test_estimator_rmse_and_eval_loss(estimator_dir):
    eval_files = event_files(os.path.join(estimator_dir, "eval"))
    assert eval_files
    tf_eval = [item for path in eval_files for item in tf_scalars(path)]
    eval_rmse = {step: value for tag, step, value in tf_eval if tag == "rmse"}
    eval_loss = {step: value for tag, step, value in tf_eval if tag == "loss"}
    assert len(eval_rmse) >= 2
    # The evaluation directory also holds a string `checkpoint_path` summary.
    tags = {
        v.tag
        for path in eval_files
        for e in tf.compat.v1.train.summary_iterator(path)
        for v in e.summary.value
    }
    assert "checkpoint_path" in tags

    scanner = EventDirectoryScanner(estimator_dir, "rmse")
    assert scanner.measurements() == sorted(eval_rmse.items())
    assert scanner.read_new() == []

    train_loss = [
        (step, value)
        for path in event_files(estimator_dir)
        if os.path.dirname(path) == estimator_dir
        for tag, step, value in tf_scalars(path)
        if tag == "loss"
    ]
    assert len(train_loss) >= 5  # training summaries also carry a `loss`
    loss_scanner = EventDirectoryScanner(estimator_dir, "loss")
    raw = loss_scanner.read_new()
    assert {os.path.basename(src) for *_, src in raw} == {"eval", "model"}
    assert loss_scanner.measurements() == sorted(eval_loss.items())
    # Without an evaluation directory the training summaries are the metric, and at a step
    # both wrote (a checkpoint's), the later write wins (which one that is depends on timing)
    only_train = EventDirectoryScanner(estimator_dir, "loss", eval_prefixes=())
    latest: dict[int, tuple[float, float]] = {}
    for path in event_files(estimator_dir):
        for tag, step, value, wall_time in tf_timed_scalars(path):
            if tag == "loss" and (step not in latest or wall_time > latest[step][0]):
                latest[step] = (wall_time, value)
    assert set(latest) == set(dict(train_loss)) | set(eval_loss)
    assert dict(only_train.measurements()) == {step: v for step, (_, v) in latest.items()}


# ---------------------------------------------------------------------------------------------
# (d) Keras' TensorBoard callback


def test_keras_tensorboard_epoch_loss(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(
        x,
        y,
        epochs=3,
        batch_size=16,
        validation_data=(x[:32], y[:32]),
        verbose=0,
        callbacks=[tf.keras.callbacks.TensorBoard(str(tmp_path / "logs"))],
    )
    scanner = EventDirectoryScanner(tmp_path / "logs", "epoch_loss")
    got = scanner.measurements()
    assert [step for step, _ in got] == [0, 1, 2]
    assert [v for _, v in got] == pytest.approx(history.history["val_loss"], rel=1e-5)
    train = EventDirectoryScanner(tmp_path / "logs" / "train", "epoch_loss")
    assert [v for _, v in train.measurements()] == pytest.approx(history.history["loss"], rel=1e-5)


# ---------------------------------------------------------------------------------------------
# (e) Incremental and damaged files


def test_incremental_reading_of_a_growing_file(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    reader = None
    with writer.as_default():
        for step in range(3):
            tf.summary.scalar("m", float(step), step=step)
        writer.flush()
        reader = EventFileReader(only_file(tmp_path))
        assert [(e.step, e.value) for e in reader.read_new()] == [(0, 0.0), (1, 1.0), (2, 2.0)]
        assert reader.read_new() == []
        for step in range(3, 5):
            tf.summary.scalar("m", float(step), step=step)
        writer.flush()
        assert [(e.step, e.value) for e in reader.read_new()] == [(3, 3.0), (4, 4.0)]
    writer.close()
    assert reader.read_new() == []


def test_partial_trailing_record(tmp_path):
    write_tf2_scalars(tmp_path / "src", "m", range(4))
    data = open(only_file(tmp_path / "src"), "rb").read()
    expected = ours(only_file(tmp_path / "src"))
    # Cut inside the last record's data, then complete the file.
    path = tmp_path / "events.out.tfevents.123.copy"
    path.write_bytes(data[:-10])
    reader = EventFileReader(path)
    assert [(e.tag, e.step, e.value) for e in reader.read_new()] == expected[:-1]
    good = reader.offset
    assert reader.read_new() == [] and reader.offset == good
    with open(path, "ab") as f:
        f.write(data[len(data) - 10 :])
    assert [(e.tag, e.step, e.value) for e in reader.read_new()] == expected[-1:]
    # A record whose header is only half written.
    extra = record(
        tf.compat.v1.Event(
            step=9,
            summary=tf.compat.v1.Summary(
                value=[tf.compat.v1.Summary.Value(tag="m", simple_value=9)]
            ),
        ).SerializeToString()
    )
    with open(path, "ab") as f:
        f.write(extra[:5])
    assert reader.read_new() == []
    with open(path, "ab") as f:
        f.write(extra[5:])
    assert [(e.step, e.value) for e in reader.read_new()] == [(9, 9.0)]


def test_crc_mismatch_stops_and_resumes(tmp_path):
    write_tf2_scalars(tmp_path / "src", "m", range(4))
    data = bytearray(open(only_file(tmp_path / "src"), "rb").read())
    # Locate the third record (file_version, step 0, step 1, step 2, ...) and damage its data.
    starts = []
    pos = 0
    while pos < len(data):
        starts.append(pos)
        pos += 12 + struct.unpack_from("<Q", data, pos)[0] + 4
    target = starts[3] + 12 + 2
    path = tmp_path / "events.out.tfevents.1.crc"
    data[target] ^= 0xFF
    path.write_bytes(bytes(data))
    reader = EventFileReader(path)
    assert [e.step for e in reader.read_new()] == [0, 1]
    assert reader.corrupt
    assert reader.read_new() == []
    data[target] ^= 0xFF  # the rest of the record arrives / the damage is gone
    path.write_bytes(bytes(data))
    assert [e.step for e in reader.read_new()] == [2, 3]
    assert not reader.corrupt
    # A damaged length is a mismatch too.
    data[starts[2]] ^= 0x01
    path.write_bytes(bytes(data))
    fresh = EventFileReader(path)
    assert [e.step for e in fresh.read_new()] == [0]


def test_scanner_garbage_new_files_and_skipped_dirs(tmp_path):
    root = tmp_path / "trial"
    write_tf2_scalars(root, "rmse", [10], offset=5.0)
    (root / "garbage").mkdir(parents=True)
    (root / "garbage" / "events.out.tfevents.0.bad").write_bytes(os.urandom(4096))
    # Good framing around bytes that are not an Event: skipped, the next record still counts.
    good = tf.compat.v1.Event(
        step=11,
        summary=tf.compat.v1.Summary(
            value=[tf.compat.v1.Summary.Value(tag="rmse", simple_value=2)]
        ),
    ).SerializeToString()
    (root / "garbage" / "events.out.tfevents.1.notproto").write_bytes(
        record(b"\xff\xff\xff\xff") + record(b"\x0a\x05abc") + record(good)
    )
    (root / "empty").mkdir()
    (root / "empty" / "events.out.tfevents.2.empty").write_bytes(b"")
    write_tf2_scalars(root / "tf_hptune", "rmse", [99])
    scanner = EventDirectoryScanner(root, "rmse")
    new = scanner.read_new()
    assert sorted((s, v) for s, v, _, _ in new) == [(10, 10.0), (11, 2.0)]
    assert scanner.read_new() == []
    # A file appearing later is picked up; an evaluation directory then takes over.
    write_tf2_scalars(root / "eval", "rmse", [10, 20], offset=1.0)
    new = scanner.read_new()
    assert sorted((s, v, os.path.basename(src)) for s, v, _, src in new) == [
        (10, 6.0, "eval"),
        (20, 11.0, "eval"),
    ]
    assert scanner.measurements() == [(10, 6.0), (20, 11.0)]
    # Later writes of a step win; measurements stay cumulative.
    write_tf2_scalars(root / "eval", "rmse", [20, 30], offset=100.0)
    assert scanner.measurements() == [(10, 6.0), (20, 110.0), (30, 115.0)]
    assert scanner.measurements() == [(10, 6.0), (20, 110.0), (30, 115.0)]


def test_missing_root_and_unreadable_file(tmp_path):
    assert EventDirectoryScanner(tmp_path / "nope", "x").measurements() == []
    assert EventFileReader(tmp_path / "nope").read_new() == []
    shutil.rmtree(tmp_path, ignore_errors=True)
