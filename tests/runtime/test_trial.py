"""The runtime mode inside real trial processes (TensorFlow 2.15): the gs:// map of every API in
its table, the fail-fast error without a root, and the 1.x module with its tf.contrib."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tf_hptune import runtime
from tf_hptune.observe import HOOK_DIR, read_summary_dirs
from tf_hptune.runtime.trial import contrib

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.slow


def run_trial(code: str, tmp_path: Path, version: str | None = None,
              gcs_root: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``code`` in a process that the launcher would start for a trial with these settings."""
    control = tmp_path / "control"
    control.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_HPTUNE_")}
    env.update(runtime.trial_env(version, None if gcs_root is None else str(gcs_root)),
               TF_HPTUNE_CONTROL_DIR=str(control), TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join((str(HOOK_DIR), str(ROOT))))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)


def result(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.splitlines()[-1])


GCS_APIS = """
import json, os
import tensorflow as tf
g, v1 = tf.io.gfile, tf.compat.v1
out = {}
g.makedirs("gs://b/dir/sub")
with g.GFile("gs://b/dir/a.txt", "w") as f:
    f.write("a,1\\nb,2\\n")
with v1.gfile.Open("gs://b/new/deep/c.txt", "w") as f:  # no directory to make first, as on GCS
    f.write("c")
out["exists"] = [g.exists("gs://b/dir/a.txt"), v1.gfile.Exists("gs://b/missing")]
out["glob"] = g.glob("gs://b/dir/*.txt")
out["listdir"] = sorted(g.listdir("gs://b/dir"))
out["isdir"] = [g.isdir("gs://b/dir/sub"), v1.gfile.IsDirectory("gs://b/dir/a.txt")]
out["read"] = g.GFile("gs://b/dir/a.txt").read()
out["stat"] = g.stat("gs://b/dir/a.txt").length
g.copy("gs://b/dir/a.txt", "gs://b/copy/a.txt")
g.rename("gs://b/copy/a.txt", "gs://b/moved/a.txt")
out["walk"] = [(top, sorted(files)) for top, _, files in g.walk("gs://b/moved")]
out["lines"] = [l.decode() for l in tf.data.TextLineDataset(["gs://b/dir/a.txt"] * 2)
                .as_numpy_iterator()]
out["csv"] = [[int(x) for x in row[1:]] for row in tf.data.experimental.CsvDataset(
    "gs://b/dir/a.txt", [tf.string, tf.int32]).as_numpy_iterator()]
with tf.io.TFRecordWriter("gs://b/rec/r.tfrecord") as w:
    w.write(b"r1")
out["records"] = [r.decode() for r in tf.data.TFRecordDataset("gs://b/rec/r.tfrecord")
                  .as_numpy_iterator()]
out["list_files"] = [f.decode() for f in tf.data.Dataset.list_files("gs://b/dir/*.txt")
                     .as_numpy_iterator()]
out["matching"] = [f.decode() for f in tf.io.matching_files("gs://b/dir/*.txt").numpy()]
out["match_once"] = [f.decode() for f in v1.train.match_filenames_once("gs://b/dir/*.txt")
                     .numpy()]
out["read_file"] = tf.io.read_file("gs://b/new/deep/c.txt").numpy().decode()
out["make_csv"] = sum(1 for _ in tf.data.experimental.make_csv_dataset(
    "gs://b/dir/*.txt", 1, column_names=["k", "v"], header=False, num_epochs=1))
vocabulary = tf.lookup.StaticVocabularyTable(tf.lookup.TextFileInitializer(
    "gs://b/dir/a.txt", tf.string, tf.lookup.TextFileIndex.WHOLE_LINE, tf.int64,
    tf.lookup.TextFileIndex.LINE_NUMBER), 1)
out["vocabulary"] = vocabulary.lookup(tf.constant(["b,2", "x"])).numpy().tolist()
writer = tf.summary.create_file_writer("gs://b/logs")
with writer.as_default():
    tf.summary.scalar("loss", 1.0, step=1)
writer.close()
g.remove("gs://b/dir/a.txt")
g.rmtree("gs://b/new")
# every entry of the table is wrapped
import importlib, _tf_hptune_observe as hook
from tf_hptune.runtime.trial import gcs
def marks(func):
    return getattr(getattr(func, "__func__", func), "_tf_hptune_marks", ())
unwrapped = []
for name, entries in gcs.PATH_ARGUMENTS.items():
    module = importlib.import_module(name)
    for path, *_ in entries:
        owner, attribute = hook.resolve(module, path)
        raw = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
        if gcs.MARK not in marks(raw):
            unwrapped.append(f"{name}.{path}")
file_io = importlib.import_module(gcs.FILE_IO)._pywrap_file_io
unwrapped += [name for name in gcs.FILE_IO_PATHS if not marks(getattr(file_io, name))]
out["unwrapped"] = unwrapped
print(json.dumps(out))
"""


def test_gs_paths_map_under_the_root_through_every_covered_api(tmp_path):
    root = tmp_path / "gcs"
    out = result(run_trial(GCS_APIS, tmp_path, gcs_root=root))
    local = root / "b"
    assert out.pop("unwrapped") == []
    assert out == {
        "exists": [True, False],
        "glob": [str(local / "dir" / "a.txt")],  # matches are local paths
        "listdir": ["a.txt", "sub"],
        "isdir": [True, False],
        "read": "a,1\nb,2\n",
        "stat": 8,
        "walk": [["gs://b/moved", ["a.txt"]]],
        "lines": ["a,1", "b,2"] * 2,
        "csv": [[1], [2]],
        "records": ["r1"],
        "list_files": [str(local / "dir" / "a.txt")],
        "matching": [str(local / "dir" / "a.txt")],
        "match_once": [str(local / "dir" / "a.txt")],
        "read_file": "c",
        "make_csv": 2,
        "vocabulary": [1, 2],
    }
    assert (local / "moved" / "a.txt").read_text() == "a,1\nb,2\n"
    assert not (local / "dir" / "a.txt").exists() and not (local / "new").exists()
    assert list((local / "logs").glob("events.out.tfevents.*"))
    # the summary writer's directory is recorded as the local one
    assert str(local / "logs") in read_summary_dirs(tmp_path / "control")


def test_without_a_root_a_gs_path_fails_at_once_naming_the_setting(tmp_path):
    code = """
import tensorflow as tf
for use in (lambda: tf.io.gfile.exists("gs://b/x"),
            lambda: tf.data.TextLineDataset("gs://b/x.csv"),
            lambda: tf.estimator.RunConfig(model_dir="gs://b/model")):
    try:
        use()
    except ValueError as e:
        print(type(e).__name__, e)
"""
    proc = run_trial(code, tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "GcsPathError gs", "GcsPathError gs", "GcsPathError gs"]
    assert all("give the job --gcs-root DIR" in line for line in lines)


MODE = """
import importlib, json, sys
import tensorflow as tf
import tensorflow.compat.v1 as tf1
from tensorflow import estimator as estimator_module
from tensorflow.python.platform import gfile
import tf_hptune.estimator.training as ours
real = sys.modules["tensorflow"]
out = {
    "module": [type(tf).__name__, tf.__name__, tf.__version__ == real.__version__],
    "v1": [tf.logging is tf1.logging, tf.placeholder is tf1.placeholder,
           tf.train.AdamOptimizer is tf1.train.AdamOptimizer, tf.decode_csv is tf1.decode_csv,
           estimator_module is tf1.estimator, gfile.Exists is tf.gfile.Exists],
    "eager": tf.executing_eagerly(),
    "real": [importlib.import_module("tensorflow") is real, ours.tf is real, real is not tf,
             real.compat is tf.compat],
}
table = tf.contrib.lookup.index_table_from_tensor(tf.constant(["a", "b"]), default_value=-1)
layers = tf.contrib.layers
columns = [layers.real_valued_column("x", dimension=2),
           layers.embedding_column(layers.sparse_column_with_keys("k", ["u", "v"]), 3),
           layers.one_hot_column(layers.sparse_column_with_hash_bucket("h", 5)),
           layers.crossed_column([layers.sparse_column_with_hash_bucket("h", 5),
                                  layers.sparse_column_with_keys("k", ["u", "v"])], 7)]
features = {"x": tf.constant([[1.0, 2.0]]), "k": tf.constant([["v"]]), "h": tf.constant([["q"]])}
dense = layers.input_from_feature_columns(features, columns[:3])
spec = layers.create_feature_spec_for_parsing(columns)
weight = tf.get_variable("weight", initializer=3.0)
saver = tf.train.Saver([weight])
with tf.Session() as session:
    session.run([tf.global_variables_initializer(), tf.tables_initializer()])
    out["lookup"] = session.run(table.lookup(tf.constant(["b", "z"]))).tolist()
    out["dense"] = list(session.run(dense).shape)
    saved = saver.save(session, "gs://b/checkpoints/model")
out["checkpoint"] = [saved, float(tf.train.load_variable("gs://b/checkpoints/model", "weight"))]
out["spec"] = sorted(spec)
from tensorflow.contrib.training.python.training.hparam import HParams
out["hparams"] = [HParams is tf.contrib.training.HParams, HParams(units=[1]).parse("units=[2,3]")
                  .units]

def model_fn(features, labels, mode):
    y = tf.layers.dense(features["x"], 1)
    return tf.estimator.EstimatorSpec(mode, predictions={"y": y})

def input_fn():
    data = tf.data.Dataset.from_tensors({"x": [[1.0]], "id": [7]})
    return data.make_one_shot_iterator().get_next()

base = tf.estimator.Estimator(model_fn, model_dir="gs://b/forward")
forwarded = tf.contrib.estimator.forward_features(base, "id")
out["forward"] = [int(p["id"]) for p in forwarded.predict(input_fn)]
out["model_dir"] = forwarded.model_dir
from tensorflow.contrib.learn.python.learn import learn_runner
out["learn"] = [learn_runner.run is tf.contrib.learn.learn_runner.run,
                isinstance(tf.contrib.learn.RunConfig(num_cores=1), tf.estimator.RunConfig),
                tf.contrib.learn.ModeKeys.INFER]
out["estimator"] = [tf.contrib.estimator.add_metrics is tf.estimator.add_metrics,
                    callable(tf.contrib.estimator.stop_if_no_decrease_hook)]
errors = []
for statement in ("tf.contrib.slim", "from tensorflow.contrib import slim",
                  "import tensorflow.contrib.slim", "tf.contrib.layers.fully_connected",
                  "from tensorflow.contrib.training import bucket_by_sequence_length",
                  "tf.not_in_v1"):
    try:
        exec(statement)
    except (AttributeError, ImportError) as e:
        errors.append(f"{type(e).__name__}: {e}")
out["errors"] = errors
out["contrib_on_real"] = hasattr(real, "contrib")
print(json.dumps(out))
raise SystemExit(tf.placeholder(tf.float32).graph is tf.get_default_graph() and "the end")
"""


def test_the_1x_mode_gives_tf_compat_v1_with_its_contrib_pieces(tmp_path):
    proc = run_trial(MODE, tmp_path, version="1.15", gcs_root=tmp_path / "gcs")
    assert proc.returncode == 1, proc.stderr[-4000:]
    assert proc.stderr.splitlines()[-1] == "the end"  # SystemExit is no crash: no closing line
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["module"] == ["TF1Module", "tensorflow", True]
    assert out["v1"] == [True] * 6 and out["eager"] is False
    # libraries, importlib and sys.modules keep the real TensorFlow 2 module
    assert out["real"] == [True] * 4 and out["contrib_on_real"] is False
    assert out["lookup"] == [1, -1] and out["dense"] == [1, 2 + 3 + 5]
    assert out["spec"] == ["h", "k", "x"]
    assert out["hparams"] == [True, [2, 3]]
    assert out["checkpoint"] == [str(tmp_path / "gcs" / "b" / "checkpoints" / "model"), 3.0]
    assert out["forward"] == [7] and out["model_dir"] == str(tmp_path / "gcs" / "b" / "forward")
    assert out["learn"] == [True, True, "infer"] and out["estimator"] == [True, True]
    # whichever way a missing piece is reached, the message names it and the mode
    assert out["errors"][:5] == [
        f"AttributeError: {contrib.missing('tf.contrib.slim')}",
        f"ModuleNotFoundError: {contrib.missing('tf.contrib.slim')}",
        f"ModuleNotFoundError: {contrib.missing('tf.contrib.slim')}",
        f"AttributeError: {contrib.missing('tf.contrib.layers.fully_connected')}",
        "ModuleNotFoundError: "
        f"{contrib.missing('tf.contrib.training.bucket_by_sequence_length')}",
    ]
    assert out["errors"][5] == ("AttributeError: module 'tensorflow' has no attribute "
                                "'not_in_v1' (in the TensorFlow 1.x runtime mode, tensorflow is "
                                "tf.compat.v1 of TensorFlow 2.15.1)")


def test_a_trial_that_crashes_in_the_mode_says_so_last(tmp_path):
    proc = run_trial("import tensorflow as tf\ntf.contrib.slim", tmp_path, version="1.15")
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[-2].startswith("AttributeError: tf.contrib.slim is not available")
    assert lines[-1] == ("tf_hptune: this trial ran in the TensorFlow 1.x runtime mode "
                         "(runtimeVersion 1.15)")
    assert runtime.failure_hint(proc.stderr) is None
