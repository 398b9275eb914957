"""Trial files are read without blocking or following links; the tuner's own files are never
written through a link, into someone else's file or into a directory others may write in."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT
from tf_hptune.errors import UnsafePathError
from tf_hptune.files import (
    NotRegularFileError,
    make_private_dir,
    open_private,
    open_regular,
    read_regular,
    write_private,
)

NOBODY = 65534


def foreign(path) -> None:
    """Make ``path`` someone else's (root only)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to make a file someone else's")
    os.lchown(path, NOBODY, NOBODY)


def test_every_reader_of_trial_files_skips_fifos_without_blocking(tmp_path):
    # each file a trial may replace becomes a FIFO that nobody ever opens for writing; in a
    # child process, so that a reader that blocks fails the test instead of hanging it
    control, job = tmp_path / "tf_hptune" / "1", tmp_path / "1"
    control.mkdir(parents=True)
    job.mkdir()
    for path in (control / "hypertune.metrics", control / "measurements.jsonl",
                 control / "stdout.log", control / "stderr.log", control / "summary_dirs.txt",
                 job / "events.out.tfevents.1.host"):
        os.mkfifo(path)
    script = textwrap.dedent(f"""
        from pathlib import Path
        from tf_hptune.channel import TrialChannel, TrialPaths
        from tf_hptune.logs import LogFollower, log_tail
        paths = TrialPaths.for_trial({str(tmp_path)!r}, "1")
        channel = TrialChannel(paths, "loss")
        assert channel.measurements() == [] and channel.other_tags() == []
        assert log_tail(paths) == "" and list(LogFollower().read("1", paths, final=True)) == []
        print("read", flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "read\n", done.stderr


def test_open_regular_reads_files_only(tmp_path):
    (tmp_path / "f").write_bytes(b"data")
    with open_regular(tmp_path / "f") as f:
        assert f.read() == b"data"
    os.symlink(tmp_path / "f", tmp_path / "link")
    with pytest.raises(OSError):
        open_regular(tmp_path / "link")
    with pytest.raises(NotRegularFileError):
        open_regular(tmp_path)
    assert read_regular(tmp_path / "link", 10) is None
    assert read_regular(tmp_path / "missing", 10) is None


def test_open_private_never_writes_through_a_link_or_into_another_name(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("private\n")
    os.symlink(victim, tmp_path / "stdout.log")
    with pytest.raises(UnsafePathError, match="symbolic link"):
        open_private(tmp_path / "stdout.log", os.O_WRONLY | os.O_APPEND)
    os.link(victim, tmp_path / "stderr.log")
    with pytest.raises(UnsafePathError, match="hard links"):
        open_private(tmp_path / "stderr.log", os.O_WRONLY | os.O_APPEND)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OSError):
        open_private(tmp_path / "fifo", os.O_WRONLY | os.O_APPEND)  # never blocks either
    assert victim.read_text() == "private\n"
    fd = open_private(tmp_path / "new.log", os.O_WRONLY | os.O_APPEND)
    os.close(fd)
    assert stat.S_IMODE((tmp_path / "new.log").stat().st_mode) == 0o600


def test_open_private_refuses_someone_elses_file(tmp_path):
    (tmp_path / "theirs").write_text("x")
    foreign(tmp_path / "theirs")
    with pytest.raises(UnsafePathError, match="not to you"):
        open_private(tmp_path / "theirs", os.O_WRONLY | os.O_APPEND)


def test_write_private_replaces_a_planted_link_instead_of_following_it(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("private\n")
    os.symlink(victim, tmp_path / "STOP")
    os.symlink(victim, tmp_path / f".tf_hptune-{os.getpid()}.tmp")  # the writer's tmp name too
    write_private(tmp_path / "STOP", b"stop\n")
    assert victim.read_text() == "private\n"
    assert not (tmp_path / "STOP").is_symlink() and (tmp_path / "STOP").read_bytes() == b"stop\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["STOP", "victim"]


def test_make_private_dir_creates_or_tightens_only_your_own_real_directories(tmp_path):
    make_private_dir(tmp_path / "a" / "b")
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
    (tmp_path / "open").mkdir(mode=0o755)
    make_private_dir(tmp_path / "open")
    assert stat.S_IMODE((tmp_path / "open").stat().st_mode) == 0o700
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, tmp_path / "link")
    with pytest.raises(UnsafePathError, match="symbolic link"):
        make_private_dir(tmp_path / "link")
    (tmp_path / "shared").mkdir()
    os.chmod(tmp_path / "shared", 0o777)
    with pytest.raises(UnsafePathError, match="writable by others.*0777"):
        make_private_dir(tmp_path / "shared")
    (tmp_path / "file").write_text("")
    with pytest.raises(UnsafePathError, match="not a directory"):
        make_private_dir(tmp_path / "file")
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o777  # left as it was


def test_make_private_dir_refuses_someone_elses_directory(tmp_path):
    (tmp_path / "theirs").mkdir(mode=0o700)
    foreign(tmp_path / "theirs")
    with pytest.raises(UnsafePathError, match="belongs to .*uid 65534"):
        make_private_dir(tmp_path / "theirs")
