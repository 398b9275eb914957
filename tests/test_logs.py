"""A trial's log past its cap is cut in place, keeping its head and its tail in whole lines,
and a follower goes on from the cut's note, missing nothing the trial wrote after it."""
from __future__ import annotations

import os

from tf_hptune.channel import TrialPaths
from tf_hptune.logs import CUT_NOTE, LogFollower, cap_log


def write_lines(path, first, count):
    with open(path, "a", encoding="utf-8") as f:
        for i in range(first, first + count):
            f.write(f"line {i:05d} " + "x" * 88 + "\n")  # 100 bytes a line


def test_a_log_under_its_limit_is_left_alone(tmp_path):
    log = tmp_path / "stdout.log"
    write_lines(log, 0, 50)
    before = log.read_bytes()
    assert not cap_log(log, limit=5_000, head=1_000, tail=2_000)
    assert log.read_bytes() == before


def test_a_cut_keeps_whole_lines_of_the_head_and_the_tail_and_says_how_much_went(tmp_path):
    log = tmp_path / "stdout.log"
    write_lines(log, 0, 1_000)  # 100,000 bytes
    assert cap_log(log, limit=50_000, head=1_050, tail=2_050)
    lines = log.read_text().splitlines()
    # whole lines only: 10 of the head, a note, 20 of the tail
    assert lines[:10] == [f"line {i:05d} " + "x" * 88 for i in range(10)]
    assert lines[10] == f"{CUT_NOTE}97,000 bytes of this log were cut here]"
    assert lines[11:] == [f"line {i:05d} " + "x" * 88 for i in range(980, 1_000)]
    assert os.path.getsize(log) < 50_000


def test_the_trial_appends_after_the_cut_and_a_follower_reads_on_from_it(tmp_path):
    paths = TrialPaths.for_trial(tmp_path, "1")
    paths.control_dir.mkdir(parents=True)
    write_lines(paths.stdout, 0, 1_000)
    follower = LogFollower()
    assert len(list(follower.read("1", paths))) == 1_000
    assert cap_log(paths.stdout, limit=50_000, head=1_000, tail=2_000)
    write_lines(paths.stdout, 1_000, 3)  # the trial's O_APPEND writes go on at the new end
    assert paths.stdout.read_text().splitlines()[-4:] == [
        f"line {i:05d} " + "x" * 88 for i in range(999, 1_003)]
    again = [line.split(None, 1)[1] for line in follower.read("1", paths)]
    # from the note on: the tail it had already shown, then exactly the new lines
    assert again[0].startswith(CUT_NOTE)
    assert again[-3:] == [f"line {i:05d} " + "x" * 88 for i in range(1_000, 1_003)]
