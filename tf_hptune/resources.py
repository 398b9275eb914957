"""What a trial may use (GPUs, CPU threads and cores) and the pool the Tuner hands it out from.

The Tuner owns one ``ResourcePool``; launchers obey the ``Resources`` they are given and never
discover devices themselves. ``plan_pool`` makes the pool of a job from its settings
(``ResourceSettings``: the config's ``gpus``, ``trialsPerGpu``, ``gpusPerTrial``,
``cpusPerTrial``, ``cpuAffinity``), the GPUs found by ``discover_gpus`` (NVML, else
``nvidia-smi``; never TensorFlow) and the cores of this machine. Its ``notes`` say once what a
user should know (packing, waiting for a slot, more trials than cores).

Default when ``maxParallelTrials`` exceeds the GPUs: the trials are packed, as evenly as
possible (``ceil(maxParallelTrials / GPUs)`` per GPU), with TensorFlow's memory growth on. Most
tuning trials are small models that use a fraction of a GPU, so running them side by side is
what a user of one GPU wants; waiting would leave the GPU mostly idle and ``maxParallelTrials``
unmet. ``trialsPerGpu: 1`` gives each trial a GPU of its own; the others then wait.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

EXECUTORS = ("local", "ray")  # trials on this machine's pool, or placed by Ray's scheduler
PCI_BUS_ORDER = "PCI_BUS_ID"  # CUDA numbers GPUs as nvidia-smi and NVML do only in this order


@dataclass(frozen=True)
class Resources:
    """One trial's share.

    ``gpus``: the devices it sees (``CUDA_VISIBLE_DEVICES``), by index or UUID; ``gpu_count``:
    what it asks a scheduler (Ray) for, a fraction when packed, when ``gpus`` is empty; no GPU
    at all hides every GPU. ``packed``: it shares its GPU (memory growth on). ``threads``: its
    CPU threads, None for TensorFlow's own defaults. ``cpus``: the cores it is pinned to (empty:
    not pinned). ``gpu_order``: the ``CUDA_DEVICE_ORDER`` its GPU indexes are in (None: the
    user's own, for ids that came from the user's ``CUDA_VISIBLE_DEVICES``).
    """

    gpus: tuple[str, ...] = ()
    gpu_count: float = 0.0
    packed: bool = False
    threads: int | None = None
    cpus: tuple[int, ...] = ()
    gpu_order: str | None = PCI_BUS_ORDER

    def environment(self) -> dict[str, str]:
        """The variables a trial process gets for this share."""
        env: dict[str, str] = {}
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in self.gpus)
            if self.gpu_order:
                env["CUDA_DEVICE_ORDER"] = self.gpu_order
        elif not self.gpu_count:
            env["CUDA_VISIBLE_DEVICES"] = ""  # no GPU: TensorFlow runs on the CPU
        # else a scheduler (Ray) picked the devices and set the variable itself
        if self.packed:
            env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
        if self.threads:
            # every pool sized as TensorFlow sizes it on a machine of `threads` cores
            for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
                env[name] = str(self.threads)
        return env


@dataclass(frozen=True)
class ResourceSettings:
    """A job's resource settings, as the config or the flags gave them.

    ``gpus``: the GPUs to use (None: discover them); ``trials_per_gpu``: trials sharing one GPU
    (None: pack ``maxParallelTrials`` over the GPUs); ``gpus_per_trial``: GPUs of a trial, not
    shared; ``cpus_per_trial``: each trial's CPU threads (None: the cores shared out; 0: no
    limit); ``cpu_affinity``: pin each trial to cores of its own.
    """

    gpus: tuple[str, ...] | None = None
    trials_per_gpu: int | None = None
    gpus_per_trial: int | None = None
    cpus_per_trial: int | None = None
    cpu_affinity: bool = False

    # the config's field for each setting (the flags are the same words: --trials-per-gpu)
    FIELDS = {"gpus": "gpus", "trials_per_gpu": "trialsPerGpu",
              "gpus_per_trial": "gpusPerTrial", "cpus_per_trial": "cpusPerTrial",
              "cpu_affinity": "cpuAffinity"}

    @classmethod
    def from_config(cls, training_input: Mapping[str, Any]) -> "ResourceSettings":
        """The settings of a validated ``trainingInput``."""
        raw = {attr: training_input[key] for attr, key in cls.FIELDS.items()
               if training_input.get(key) is not None}
        if "gpus" in raw:
            raw["gpus"] = parse_gpus(raw["gpus"])
        return cls(**raw)

    def to_dict(self) -> dict[str, Any]:
        return {"gpus": None if self.gpus is None else list(self.gpus),
                "trials_per_gpu": self.trials_per_gpu, "gpus_per_trial": self.gpus_per_trial,
                "cpus_per_trial": self.cpus_per_trial, "cpu_affinity": self.cpu_affinity}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ResourceSettings":
        gpus = d.get("gpus")
        return cls(gpus=None if gpus is None else tuple(str(g) for g in gpus),
                   trials_per_gpu=d.get("trials_per_gpu"), gpus_per_trial=d.get("gpus_per_trial"),
                   cpus_per_trial=d.get("cpus_per_trial"),
                   cpu_affinity=bool(d.get("cpu_affinity", False)))


_GPU_ID = re.compile(r"\d+|(GPU|MIG)-[0-9A-Za-z/_.-]+")


def parse_gpus(value: Any) -> tuple[str, ...]:
    """GPU ids from ``N`` (a count: GPUs 0 to N-1; 0 means none) or a list of ids (a
    comma-separated string such as ``"1,3"`` or ``"2,"``, or a YAML list, empty for none; an
    id is an index or a ``GPU-``/``MIG-`` UUID). Raises ``ValueError`` saying what is
    wrong."""
    if isinstance(value, bool):
        raise ValueError("must be a GPU count or a list of GPU ids")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a GPU count cannot be negative")
        return tuple(str(i) for i in range(value))
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return parse_gpus(int(text))
        items: list[Any] = [p.strip() for p in text.split(",")]
        if items and items[-1] == "":  # "3," is the list holding GPU 3
            items.pop()
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ValueError("must be a GPU count or a list of GPU ids")
    ids: list[str] = []
    for item in items:
        text = str(item).strip() if isinstance(item, (str, int)) and not isinstance(
            item, bool) else ""
        if not _GPU_ID.fullmatch(text):
            raise ValueError(f"{item!r} is not a GPU id (an index such as 0, or a GPU-/MIG- "
                             "UUID)")
        if text in ids:
            raise ValueError(f"GPU {text} is listed twice")
        ids.append(text)
    if not ids and isinstance(value, str):
        raise ValueError("lists no GPU (use 0 for none)")
    return tuple(ids)


# -- discovery -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Gpus:
    """The GPUs a job may use: ``ids`` as a trial's ``CUDA_VISIBLE_DEVICES`` names them, in
    ``order`` (``CUDA_DEVICE_ORDER``; None: the user's own), and what to say about them."""

    ids: tuple[str, ...]
    order: str | None = PCI_BUS_ORDER
    notes: tuple[str, ...] = ()


def _nvml_gpus() -> list[tuple[str, str]]:
    """(index, UUID) of each GPU through NVML (``nvidia-ml-py``); ImportError without it."""
    import pynvml  # type: ignore[import-not-found]

    pynvml.nvmlInit()
    try:
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            uuid = pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(i))
            out.append((str(i), uuid.decode() if isinstance(uuid, bytes) else str(uuid)))
        return out
    finally:
        pynvml.nvmlShutdown()


def _smi_gpus() -> list[tuple[str, str]]:
    """(index, UUID) of each GPU from ``nvidia-smi``; OSError when it is missing or fails."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        raise FileNotFoundError("no nvidia-smi on PATH")
    try:
        done = subprocess.run([smi, "--query-gpu=index,uuid", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired as e:
        raise OSError("nvidia-smi did not answer in 30 s") from e
    if done.returncode != 0:
        first = (done.stderr or done.stdout).strip().splitlines()
        raise OSError(f"nvidia-smi failed: {first[0] if first else done.returncode}")
    out = []
    for line in done.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 2 and parts[0].isdigit():
            out.append((parts[0], parts[1]))
    return out


def discover_gpus(environ: Mapping[str, str] | None = None) -> Gpus:
    """This machine's GPUs, through NVML (``nvidia-ml-py``) or else ``nvidia-smi``, without
    TensorFlow. A ``CUDA_VISIBLE_DEVICES`` set by the user chooses among them: its entries, in
    its order and numbering, are the GPUs trials get (an entry that matches no GPU found is
    left out and said; with nothing to check them against they are taken as given)."""
    environ = os.environ if environ is None else environ
    notes: list[str] = []
    found: list[tuple[str, str]] | None = None
    why = ""
    try:
        found = _nvml_gpus()
    except ImportError:
        pass
    except Exception as e:  # NVML's own errors: no driver, no device
        why = f"NVML: {e}"
    if found is None:
        try:
            found = _smi_gpus()
        except OSError as e:
            why = f"{why}; {e}" if why else str(e)
    user = environ.get("CUDA_VISIBLE_DEVICES")
    if user is None:
        if not found:
            notes.append("no GPU found" + (f" ({why})" if why else "") + ": trials run on the "
                         "CPU; --gpus names GPUs to use")
        return Gpus(tuple(i for i, _ in found or ()), PCI_BUS_ORDER, tuple(notes))
    entries = [e.strip() for e in user.split(",") if e.strip()]
    kept: list[str] = []
    for entry in entries:
        if entry.lstrip("-").isdigit() and int(entry) < 0:
            break  # CUDA stops at an invalid index: "-1" hides every GPU
        known = found is None or (entry.isdigit() and int(entry) < len(found)) or any(
            uuid.startswith(entry) for _, uuid in found) or entry.startswith("MIG-")
        if known and entry not in kept:
            kept.append(entry)
        else:
            notes.append(f"CUDA_VISIBLE_DEVICES entry {entry!r} matches no GPU found; left out")
    notes.append(f"using the GPUs of CUDA_VISIBLE_DEVICES={user!r}: "
                 + (", ".join(kept) if kept else "none, so trials run on the CPU"))
    return Gpus(tuple(kept), None, tuple(notes))


def cpu_cores() -> tuple[int, ...]:
    """The cores this process may run on (its affinity), as many as a cgroup CPU quota
    allows."""
    try:
        cores = tuple(sorted(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        cores = tuple(range(os.cpu_count() or 1))
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cores = cores[:max(1, int(int(quota) / int(period)))]
    except (OSError, ValueError):
        pass
    return cores


# -- the pool ------------------------------------------------------------------------------
class ResourcePool:
    """Hands out ``Resources`` to trials and takes them back when they end.

    Contract: ``acquire`` returns a share or None when none is free; every share acquired is
    released exactly once with ``release``. A pool made without ``slots`` never runs out and
    gives every trial ``Resources()`` (no GPU, no limits). ``notes`` are what to tell the user
    once about this pool.
    """

    def __init__(self, slots: Sequence[Resources] | None = None,
                 notes: Sequence[str] = ()) -> None:
        self._slots = None if slots is None else list(slots)
        self.notes = tuple(notes)
        self._held: dict[str, int] = {}

    @property
    def free(self) -> int:
        """How many more trials can get a share now."""
        if self._slots is None:
            return sys.maxsize
        return len(self._slots) - len(self._held)

    @property
    def size(self) -> int | None:
        """How many trials can hold a share at once (None: any number)."""
        return None if self._slots is None else len(self._slots)

    def acquire(self, trial_id: str) -> Resources | None:
        if self._slots is None:
            self._held[trial_id] = -1
            return Resources()
        taken = set(self._held.values())
        for index, share in enumerate(self._slots):  # the first free: slots spread the GPUs
            if index not in taken:
                self._held[trial_id] = index
                return share
        return None

    def release(self, trial_id: str) -> None:
        self._held.pop(trial_id, None)


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@dataclass
class _Plan:
    """The GPU part of a plan: one entry per slot, its GPU ids and how many GPUs it counts for
    (a fraction when packed)."""

    slots: list[tuple[tuple[str, ...], float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _gpu_slots(settings: ResourceSettings, parallel: int, gpus: Sequence[str],
               where: str) -> _Plan:
    plan = _Plan()
    per_trial = settings.gpus_per_trial or 1
    if not gpus:
        if settings.gpus_per_trial or settings.trials_per_gpu:
            plan.notes.append(f"no GPU {where}: trials run on the CPU (gpusPerTrial and "
                              "trialsPerGpu have no effect)")
        return plan
    if per_trial > 1:
        if settings.trials_per_gpu not in (None, 1):
            raise ValueError(f"gpusPerTrial {per_trial} gives each trial GPUs of its own; "
                             f"trialsPerGpu {settings.trials_per_gpu} cannot share them")
        if len(gpus) < per_trial:
            raise ValueError(f"gpusPerTrial {per_trial} needs {per_trial} GPUs; there "
                             f"{'is' if len(gpus) == 1 else 'are'} {len(gpus)} {where} "
                             f"({', '.join(gpus)})")
        groups = len(gpus) // per_trial
        plan.slots = [(tuple(gpus[i * per_trial:(i + 1) * per_trial]), float(per_trial))
                      for i in range(groups)]
        if len(gpus) % per_trial:
            plan.notes.append(f"gpusPerTrial {per_trial} leaves "
                              f"{', '.join(gpus[groups * per_trial:])} unused")
        what = f"{_n(groups, 'GPU slot')} ({_n(len(gpus), 'GPU')}, {per_trial} per trial)"
    else:
        share = settings.trials_per_gpu or max(1, math.ceil(parallel / len(gpus)))
        plan.slots = [((g,), 1.0 / share) for _ in range(share) for g in gpus]
        if share > 1 and settings.trials_per_gpu is None:
            plan.notes.append(
                f"maxParallelTrials {parallel} on {_n(len(gpus), 'GPU')}: up to {share} "
                "trials share each GPU, with TensorFlow's memory growth on "
                "(--trials-per-gpu 1 gives each trial a GPU of its own)")
        what = (f"{_n(len(plan.slots), 'GPU slot')} ({_n(len(gpus), 'GPU')}, "
                f"{_n(share, 'trial')} each)")
    if parallel > len(plan.slots):
        plan.notes.append(f"maxParallelTrials {parallel} is above the {what}: the other "
                          "trials wait for a free slot")
    return plan


def plan_pool(settings: ResourceSettings, parallel: int, gpus: Gpus,
              cores: Sequence[int]) -> ResourcePool:
    """The pool of a job run on this machine: GPU slots (packed by default when
    ``parallel`` exceeds the GPUs), and the cores shared out among the trials that run at once
    (threads, and disjoint cores with ``cpu_affinity``). Raises ``ValueError`` for settings
    that cannot be met."""
    plan = _gpu_slots(settings, parallel, gpus.ids, "found")
    notes = [*gpus.notes, *plan.notes]
    at_once = min(parallel, len(plan.slots)) if plan.slots else parallel
    threads = settings.cpus_per_trial
    if threads is None:
        threads = max(1, len(cores) // at_once)
        if at_once > len(cores):
            notes.append(f"maxParallelTrials {at_once} is above the {len(cores)} CPU cores: "
                         "each trial gets 1 thread and they share the cores "
                         "(--cpus-per-trial sets the threads)")
    elif threads and threads * at_once > len(cores):
        notes.append(f"cpusPerTrial {threads} for {at_once} trials at once is more than the "
                     f"{len(cores)} CPU cores")
    pins: list[tuple[int, ...]] = [()] * at_once
    if settings.cpu_affinity:
        if threads and threads * at_once <= len(cores):
            pins = [tuple(cores[i * threads:(i + 1) * threads]) for i in range(at_once)]
        else:
            notes.append("cpuAffinity: not pinned, the trials' threads do not fit on cores of "
                         "their own")
    gpu_slots = plan.slots or [((), 0.0)] * at_once
    slots = [Resources(gpus=ids, gpu_count=count, packed=0 < count < 1, threads=threads or None,
                       cpus=pins[i % at_once], gpu_order=gpus.order)
             for i, (ids, count) in enumerate(gpu_slots)]
    return ResourcePool(slots, notes)


def plan_cluster(settings: ResourceSettings, parallel: int, cluster_gpus: float
                 ) -> ResourcePool:
    """The pool of a job whose trials a scheduler (Ray) places: each trial asks for its GPUs
    (a fraction when packed, by the same rule as on this machine) and ``cpus_per_trial`` CPUs
    (default 1); the scheduler queues what its cluster cannot place yet."""
    if settings.gpus is not None:
        raise ValueError("gpus names GPUs of this machine; with the Ray executor, trials ask "
                         "the cluster for GPUs (gpusPerTrial, trialsPerGpu)")
    plan = _gpu_slots(settings, parallel, [str(i) for i in range(int(cluster_gpus))],
                      "in the Ray cluster")
    notes = [n for n in plan.notes if "wait for a free slot" not in n]
    count = plan.slots[0][1] if plan.slots else 0.0
    threads = 1 if settings.cpus_per_trial is None else settings.cpus_per_trial
    share = Resources(gpu_count=count, packed=0 < count < 1, threads=threads or None)
    return ResourcePool([share] * parallel, notes)


__all__ = ["EXECUTORS", "Gpus", "ResourcePool", "ResourceSettings", "Resources", "cpu_cores",
           "discover_gpus", "parse_gpus", "plan_cluster", "plan_pool"]
