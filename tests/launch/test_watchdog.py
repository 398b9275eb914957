"""The Ray trials' watchdog, without Ray: a worker that exits as Ray's workers do (killing its
direct children first) still has its trainer's process group ended."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.conftest import ROOT
from tf_hptune.launch import pid_alive

# A stand-in for a Ray worker: it starts a "supervisor" leading a process group of its own,
# whose child is the "trainer" (as the local launcher runs a trial), and the watch; then it
# kills every direct child of its own (as a Ray worker does when it exits, for instance when
# its raylet died; not recursively) and exits. It prints the trainer's pid.
WORKER = """
import os, signal, subprocess, sys
from tf_hptune.launch.supervise import _children
from tf_hptune.launch.watchdog import detach_watch
child = "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', " \\
        "'import time; time.sleep(120)']); print(p.pid, flush=True); p.wait()"
supervisor = subprocess.Popen([sys.executable, "-c", child], start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
trainer = int(supervisor.stdout.readline())
detach_watch(os.getpid(), supervisor.pid)
print(trainer, flush=True)
for pid in _children():
    os.kill(pid, signal.SIGKILL)
"""


def test_the_watch_outlives_a_worker_that_kills_its_children_and_ends_the_trainer():
    proc = subprocess.run([sys.executable, "-c", WORKER], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    trainer = int(proc.stdout.split()[0])
    end = time.monotonic() + 10  # the watch looks every half second
    while pid_alive(trainer) and time.monotonic() < end:
        time.sleep(0.05)
    alive = pid_alive(trainer)
    if alive:
        os.kill(trainer, signal.SIGKILL)
    assert not alive
