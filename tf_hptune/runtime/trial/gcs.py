"""The gs:// map inside a trial: TensorFlow's path-taking Python APIs see ``ROOT/BUCKET/path``.

Each module below is patched by the observe hook right after it first executes, so every later
``from ... import`` (``tf.io.gfile``, ``tf.compat.v1.gfile``, ``tf.data``, Estimator) binds the
wrapped callables. A path is mapped when it is a Python string, bytes, or a list or tuple of
them; a string tensor (a path computed in a graph) is passed on as it is. Without a root, a
gs:// path raises ``GcsPathError`` naming ``--gcs-root``.
"""
from __future__ import annotations

import functools
import sys
import types
from typing import Any

from tf_hptune.runtime.paths import map_path

FILE_IO = "tensorflow.python.lib.io.file_io"
R, W = False, True  # a path read (or a directory made), a file written: its parent is made
# The functions of ``_pywrap_file_io`` that ``file_io`` calls (``tf.io.gfile``, ``tf.gfile``,
# ``GFile`` reads and writes), with the kind of each of their leading path arguments.
FILE_IO_PATHS = {
    "FileExists": (R,), "DeleteFile": (R,), "GetMatchingFiles": (R,), "CreateDir": (R,),
    "RecursivelyCreateDir": (R,), "CopyFile": (R, W), "RenameFile": (R, W),
    "DeleteRecursively": (R,), "IsDirectory": (R,), "HasAtomicMove": (R,), "GetChildren": (R,),
    "Stat": (R,), "BufferedInputStream": (R,), "WritableFile": (W,),
}
# module -> (attribute path, index of the path argument counting ``self`` (None: keyword
# only), its keyword[, W for a file written])
PATH_ARGUMENTS: dict[str, tuple[tuple[Any, ...], ...]] = {
    "tensorflow.python.lib.io.tf_record": (
        ("TFRecordWriter.__init__", 1, "path", W), ("tf_record_iterator", 0, "path")),
    "tensorflow.python.data.ops.readers": (
        ("TextLineDatasetV2.__init__", 1, "filenames"),
        ("TFRecordDatasetV2.__init__", 1, "filenames"),
        ("FixedLengthRecordDatasetV2.__init__", 1, "filenames")),
    "tensorflow.python.data.experimental.ops.readers": (
        ("CsvDatasetV2.__init__", 1, "filenames"),),
    "tensorflow.python.data.ops.dataset_ops": (("DatasetV2.list_files", 0, "file_pattern"),),
    "tensorflow.python.ops.gen_io_ops": (
        ("matching_files", 0, "pattern"), ("read_file", 0, "filename"),
        ("write_file", 0, "filename", W)),
    "tensorflow.python.training.input": (("string_input_producer", 0, "string_tensor"),),
    "tensorflow.python.ops.lookup_ops": (("TextFileInitializer.__init__", 1, "filename"),),
    "tensorflow.python.ops.summary_ops_v2": (
        ("create_file_writer_v2", 0, "logdir"), ("create_file_writer", 0, "logdir")),
    "tensorflow.python.summary.writer.event_file_writer": (
        ("EventFileWriter.__init__", 1, "logdir"),),
    "tensorflow.python.summary.writer.event_file_writer_v2": (
        ("EventFileWriterV2.__init__", 2, "logdir"),),
    "tensorflow.python.training.saver": (
        ("Saver.save", 2, "save_path", W), ("Saver.restore", 2, "save_path")),
    "tensorflow.python.training.py_checkpoint_reader": (
        ("NewCheckpointReader", 0, "filepattern"),),
    "tensorflow.python.training.checkpoint_utils": (
        ("load_checkpoint", 0, "ckpt_dir_or_file"),
        ("init_from_checkpoint", 0, "ckpt_dir_or_file")),
    "tensorflow.python.training.warm_starting_util": (
        ("warm_start", 0, "ckpt_to_initialize_from"),),
    "tensorflow.python.saved_model.builder_impl": (
        ("_SavedModelBuilder.__init__", 1, "export_dir"),),
    # Estimator and RunConfig model_dir (both go through path_to_str), RunConfig.replace
    "tensorflow_estimator.python.estimator.run_config": (
        ("path_to_str", 0, "path"), ("RunConfig._replace", None, "model_dir")),
}
MARK = "gcs"


def install(hook: Any, root: str | None) -> None:
    """Register the patches with the observe hook, mapping under ``root`` (None: every gs://
    path fails, naming ``--gcs-root``)."""
    mappers = {kind: functools.partial(map_path, root=root, for_write=kind) for kind in (R, W)}

    def patch_file_io(module: Any) -> None:
        module._pywrap_file_io = mapped_file_io(hook, module._pywrap_file_io, mappers)

    def patch(module: Any) -> None:
        for path, index, keyword, *written in PATH_ARGUMENTS[module.__name__]:
            try:
                owner, name = hook.resolve(module, path)
                hook.wrap_argument(owner, name, index, keyword, mappers[bool(written)], MARK)
            except AttributeError as exc:  # another TensorFlow version: say what is not mapped
                print(f"tf_hptune: gs:// paths given to {module.__name__}.{path} are not "
                      f"mapped: {exc!r}", file=sys.stderr)

    hook.on_import(FILE_IO, after=patch_file_io)
    for name in PATH_ARGUMENTS:
        hook.on_import(name, after=patch)


def mapped_file_io(hook: Any, real: Any, mappers: dict[bool, Any]) -> types.ModuleType:
    """A stand-in for the ``_pywrap_file_io`` extension whose path arguments are mapped."""
    proxy = types.ModuleType(real.__name__, real.__doc__)
    proxy.__dict__.update(vars(real))
    for name, kinds in FILE_IO_PATHS.items():
        for index, kind in enumerate(kinds):
            hook.wrap_argument(proxy, name, index, "", mappers[kind], f"{MARK}{index}")
    return proxy
