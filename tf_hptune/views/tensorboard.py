"""A job as a TensorBoard HParams experiment, written without TensorFlow.

``tensorboard --logdir <job-dir>`` then lists every ended trial in the HParams dashboard, beside
the trial's own curves. What is written under the job dir:

- ``events.out.tfevents.tf_hptune.experiment``: the experiment (each parameter with its domain,
  an interval for DOUBLE and INTEGER, the values for DISCRETE and CATEGORICAL; the metric).
- ``<trial>/events.out.tfevents.tf_hptune.session``: the trial's session: its params, whether it
  was stopped early (the ``stopped early`` column), its start and end, its status (SUCCEEDED is
  a success, FAILED a failure, CANCELLED unknown). The session's run is the trial's own
  ``--job-dir``, so the runs the trainer wrote there (``<trial>``, ``<trial>/eval``) are the
  session's runs.
- ``<trial>/tf_hptune/events.out.tfevents.tf_hptune.metric``: the metric as the tuner recorded
  it, every measurement; its last value is the session's final metric, whatever way the trainer
  reported it. The tuner never reads a ``tf_hptune`` directory back as a trial's summaries.

A session is written when its trial has ended (a classic trainer wipes its output directory when
it starts); a trial that never started has none. Only TensorBoard's protos and its
``RecordWriter`` over a plain file are used: its ``EventFileWriter`` and the hparams ``summary``
helpers import TensorFlow. Without tensorboard nothing is written, and that is said once.
"""
from __future__ import annotations

import functools
import io
import os
import time
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from tf_hptune.channel import CONTROL_DIR_NAME
from tf_hptune.context import warn_once
from tf_hptune.files import write_private
from tf_hptune.spec import StudySpec
from tf_hptune.spec.model import ParameterSpec, ParamType
from tf_hptune.store import State, TrialRecord

EXPERIMENT_FILE = "events.out.tfevents.tf_hptune.experiment"
SESSION_FILE = "events.out.tfevents.tf_hptune.session"
METRIC_FILE = "events.out.tfevents.tf_hptune.metric"
# Named after the tuner's own directories, which the event scanner skips (channel.events).
METRIC_GROUP = CONTROL_DIR_NAME
# A parameter name holds no whitespace (it becomes a flag), so this column never collides.
STOPPED_EARLY = "stopped early"


@functools.cache
def _tb() -> SimpleNamespace | None:
    """TensorBoard's protos and record writer, or None (said once) when they do not import."""
    try:
        from google.protobuf import struct_pb2
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter
    except Exception as e:  # noqa: BLE001 - any broken install just means no HParams data
        warn_once("tensorboard-import", "tf_hptune: no TensorBoard HParams data is written (%s); "
                  "install it with pip install 'tf-hptune[tensorboard]'", e)
        return None
    return SimpleNamespace(struct=struct_pb2, event=event_pb2, summary=summary_pb2, api=api_pb2,
                           metadata=metadata, plugin=plugin_data_pb2, RecordWriter=RecordWriter)


class HParamsWriter:
    """Writes job ``name``'s HParams experiment under ``job_dir`` when made (once per job dir)
    and, on ``update``, the session of each trial that has ended. Never raises: an error (a
    full disk, say) is logged once and the job goes on without the data."""

    def __init__(self, job_dir: str | os.PathLike[str], spec: StudySpec, name: str = "") -> None:
        self.job_dir = os.fspath(job_dir)
        self.spec = spec
        self.name = name
        self.tb = _tb()
        self._written: dict[str, tuple[Any, ...]] = {}
        if self.tb is not None:
            self._guard(self._write_experiment)

    def update(self, trials: Iterable[TrialRecord]) -> None:
        """Write the session of every ended trial that started and is new or changed since
        the last call; cheap enough to call at every poll."""
        if self.tb is None:
            return
        for t in trials:
            if not t.state.is_final or t.start_time is None:
                continue
            key = (t.state, t.end_time, t.final_step, t.final_value, t.stopped_early,
                   len(t.measurements))
            if self._written.get(t.trial_id) != key:
                self._written[t.trial_id] = key  # one try per change, not one per poll
                self._guard(self._write_session, t)

    # -- writing ---------------------------------------------------------------------------
    def _guard(self, write: Any, *args: Any) -> None:
        # A view never fails the job it shows.
        try:
            write(*args)
        except Exception as e:  # noqa: BLE001
            warn_once(f"hparams:{self.job_dir}", "tf_hptune: TensorBoard HParams data under %s "
                      "could not be written (%s: %s); the job goes on without it",
                      self.job_dir, type(e).__name__, e)

    def _write_experiment(self) -> None:
        path = os.path.join(self.job_dir, EXPERIMENT_FILE)
        if os.path.exists(path):  # a resumed tuner keeps the experiment's creation time
            return
        api, now = self.tb.api, time.time()
        infos = [_hparam_info(api, self.tb.struct, p) for p in self.spec.params]
        infos.append(api.HParamInfo(
            name=STOPPED_EARLY, type=api.DATA_TYPE_BOOL,
            description="the early-stopping rule stopped the trial (isTrialStoppedEarly)",
            domain_discrete=self.tb.struct.ListValue(values=[
                self.tb.struct.Value(bool_value=False), self.tb.struct.Value(bool_value=True)])))
        metric = api.MetricInfo(
            name=api.MetricName(group=METRIC_GROUP, tag=self.spec.metric_tag),
            display_name=self.spec.metric_tag,
            description=f"{self.spec.goal.value}; the value the tuner recorded, the last one "
                        "being the trial's finalMetric")
        experiment = api.Experiment(
            name=self.name, time_created_secs=now, hparam_infos=infos, metric_infos=[metric],
            description=f"tf-hptune job {self.name}: {self.spec.goal.value} "
                        f"{self.spec.metric_tag}")
        data = self.tb.plugin.HParamsPluginData(experiment=experiment)
        _write(path, self._records(now, [self._hparams_event(
            self.tb.metadata.EXPERIMENT_TAG, data, now)]))

    def _write_session(self, t: TrialRecord) -> None:
        plugin, tb = self.tb.plugin, self.tb
        start = float(t.start_time)  # type: ignore[arg-type]
        end = t.end_time or start
        hparams = {name: _value(tb.struct, self._param(name), v) for name, v in t.params.items()}
        hparams[STOPPED_EARLY] = tb.struct.Value(bool_value=t.stopped_early)
        start_info = plugin.SessionStartInfo(hparams=hparams, start_time_secs=start)
        end_info = plugin.SessionEndInfo(status=_status(tb.api, t.state), end_time_secs=end)
        trial_dir = os.path.join(self.job_dir, t.trial_id)
        scalars = [tb.event.Event(wall_time=m.time or end, step=m.step, summary=tb.summary.Summary(
            value=[tb.summary.Summary.Value(tag=self.spec.metric_tag, simple_value=m.value)]))
            for m in t.measurements]
        _write(os.path.join(trial_dir, METRIC_GROUP, METRIC_FILE), self._records(start, scalars))
        tags = tb.metadata
        _write(os.path.join(trial_dir, SESSION_FILE), self._records(start, [
            self._hparams_event(tags.SESSION_START_INFO_TAG,
                                plugin.HParamsPluginData(session_start_info=start_info), start),
            self._hparams_event(tags.SESSION_END_INFO_TAG,
                                plugin.HParamsPluginData(session_end_info=end_info), end)]))

    def _param(self, name: str) -> ParameterSpec | None:
        return next((p for p in self.spec.params if p.name == name), None)

    def _hparams_event(self, tag: str, data: Any, wall_time: float) -> Any:
        tb = self.tb
        value = tb.summary.Summary.Value(tag=tag, metadata=tb.metadata.create_summary_metadata(
            data), tensor=tb.metadata.NULL_TENSOR)
        return tb.event.Event(wall_time=wall_time, summary=tb.summary.Summary(value=[value]))

    def _records(self, wall_time: float, events: list[Any]) -> bytes:
        """An event file's bytes: the version record, then ``events``."""
        out = io.BytesIO()
        writer = self.tb.RecordWriter(out)
        for e in [self.tb.event.Event(wall_time=wall_time, file_version="brain.Event:2"),
                  *events]:
            writer.write(e.SerializeToString())
        return out.getvalue()


def _hparam_info(api: Any, struct: Any, p: ParameterSpec) -> Any:
    scale = f", {p.scale_type.value}" if p.scale_type else ""
    info = api.HParamInfo(name=p.name, description=f"{p.type.value}{scale}",
                          type=api.DATA_TYPE_STRING if p.type is ParamType.CATEGORICAL
                          else api.DATA_TYPE_FLOAT64)
    if p.type in (ParamType.DOUBLE, ParamType.INTEGER):
        info.domain_interval.min_value = float(p.min_value)  # type: ignore[arg-type]
        info.domain_interval.max_value = float(p.max_value)  # type: ignore[arg-type]
    else:
        values = p.categorical_values or p.discrete_values
        info.domain_discrete.values.extend(_value(struct, p, v) for v in values)
    return info


def _value(struct: Any, p: ParameterSpec | None, v: Any) -> Any:
    if (p is not None and p.type is ParamType.CATEGORICAL) or isinstance(v, str):
        return struct.Value(string_value=str(v))
    return struct.Value(number_value=float(v))


def _status(api: Any, state: State) -> int:
    return {State.SUCCEEDED: api.STATUS_SUCCESS,
            State.FAILED: api.STATUS_FAILURE}.get(state, api.STATUS_UNKNOWN)


def _write(path: str, data: bytes) -> None:
    """Replace ``path`` by ``data`` at once (readers never see part of it), never through a
    link; private files. (The directories are the job's and the trial's own.)"""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    write_private(path, data)


__all__ = ["EXPERIMENT_FILE", "METRIC_FILE", "METRIC_GROUP", "SESSION_FILE", "STOPPED_EARLY",
           "HParamsWriter"]
