"""Views of a stored job for people: a table of its trials (``table``), plots (``plot``,
needs matplotlib) and TensorBoard HParams data (``tensorboard``, needs tensorboard).

Each reads a ``JobRecord`` and its ``TrialRecord``s; none writes to the store or feeds back into
a job, and none imports TensorFlow. Import the submodules themselves: this package imports
neither optional dependency.
"""
from __future__ import annotations
