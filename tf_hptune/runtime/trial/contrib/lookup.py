"""``tf.contrib.lookup``: the tables and helpers that TensorFlow 2.15's ``lookup_ops`` still has
(graph-mode, as in 1.x)."""
from __future__ import annotations

from tf_hptune.runtime.trial.contrib import forwarding

NAMES = (
    "index_table_from_file", "index_table_from_tensor", "index_to_string_table_from_file",
    "index_to_string_table_from_tensor", "HashTable", "MutableHashTable", "DenseHashTable",
    "IdTableWithHashBuckets", "KeyValueTensorInitializer", "TextFileInitializer",
    "TextFileIndex", "TextFileIdTableInitializer", "TextFileStringTableInitializer",
    "LookupInterface", "InitializableLookupTableBase", "TableInitializerBase", "HasherSpec",
    "FastHashSpec", "StrongHashSpec",
)
__getattr__ = forwarding("tf.contrib.lookup", {
    **{name: f"tensorflow.python.ops.lookup_ops:{name}" for name in NAMES},
    "MutableDenseHashTable": "tensorflow.python.ops.lookup_ops:DenseHashTable",
})
__all__: list[str] = []
