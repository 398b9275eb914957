"""Property-based tests: hostile input only ever gets the documented, clear error."""
from __future__ import annotations

import json
import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tf_hptune import cli
from tf_hptune.channel.events import EventFileReader
from tf_hptune.channel.hypertune import read_reports
from tf_hptune.channel.jsonl import JsonlReader
from tf_hptune.errors import JobNameError, SpecError
from tf_hptune.spec import load_spec
from tf_hptune.store import check_job_name

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(st.text(max_size=300))
def test_any_yaml_text_gives_a_spec_or_a_spec_error(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_spec(str(path))
    except SpecError as e:
        assert str(e)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=15)


@SETTINGS
@given(json_values)
def test_any_json_document_gives_a_spec_or_a_spec_error(tmp_path, doc):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    try:
        load_spec(str(path))
    except SpecError:
        pass


NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=string.printable + "é\x00", max_size=140))
def test_job_names_follow_the_service_rule(name):
    if NAME.fullmatch(name) and len(name) <= 128:
        assert check_job_name(name) == name
    else:
        with pytest.raises(JobNameError, match="invalid"):
            check_job_name(name)


@SETTINGS
@given(st.binary(max_size=2000))
def test_metric_readers_survive_any_bytes(tmp_path, data):
    for name in ("hypertune.metrics", "m.jsonl", "events.out.tfevents.1.host"):
        (tmp_path / name).write_bytes(data)
    reports, bad = read_reports(tmp_path / "hypertune.metrics", "loss")
    assert all(isinstance(s, int) and isinstance(v, float) for s, v in reports)
    assert bad >= 0
    assert all(isinstance(s, int) for s, _ in JsonlReader(tmp_path / "m.jsonl", "loss")
               .read_new())
    EventFileReader(tmp_path / "events.out.tfevents.1.host").read_new()


@SETTINGS
@given(st.lists(st.integers(-10**20, 10**20), max_size=5),
       st.lists(st.floats(allow_nan=True) | st.text(max_size=4), max_size=5))
def test_hypertune_lines_with_odd_values(tmp_path, steps, values):
    lines = [json.dumps({"global_step": str(s), "loss": v if isinstance(v, str) else str(v)})
             for s, v in zip(steps, values)]
    path = tmp_path / "hypertune.metrics"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    reports, bad = read_reports(path, "loss")
    assert len(reports) + bad == len(lines)


ARGS = st.lists(st.sampled_from(["jobs", "describe", "list", "cancel", "stream-logs", "resume",
                                 "submit", "training", "--format", "json", "yaml", "--",
                                 "--no-follow", "x", "1bad", "--config", "--seed", "-1"])
                | st.text(max_size=6), max_size=6)


@SETTINGS
@given(ARGS)
def test_cli_arguments_never_end_in_a_traceback(tmp_path, capsys, argv):
    cut = argv.index("--") if "--" in argv else len(argv)
    argv = [*argv[:cut], "--store", str(tmp_path / "s.db"), *argv[cut:]]  # never the default
    try:
        code = cli.main(argv)
    except SystemExit as e:  # argparse's usage errors
        assert e.code in (0, 2)
    else:
        assert code in (0, 1, 2)
    capsys.readouterr()


def test_a_yaml_bomb_is_refused(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi"))
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb + "hyperparameters: *i\n")
    with pytest.raises(SpecError):
        load_spec(str(path))
