"""Property-based tests: hostile input only ever gets the documented, clear error."""
from __future__ import annotations

import json
import re
import string
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import FAKE_PACKAGE
from tf_hptune import cli, jobs
from tf_hptune.channel.events import EventFileReader
from tf_hptune.channel.hypertune import read_reports
from tf_hptune.channel.jsonl import JsonlReader
from tf_hptune.errors import JobNameError, SpecError
from tf_hptune.launch import LaunchConfig, LocalLauncher, build_request
from tf_hptune.spec import load_spec
from tf_hptune.spec.loader import MAX_CONFIG_BYTES
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


# -- sizes ---------------------------------------------------------------------------------
PADDING = "hyperparameters:\n  params:\n  - {parameterName: a, type: INTEGER, minValue: 1, " \
          "maxValue: 9}\n"


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 3 * MAX_CONFIG_BYTES))
def test_a_config_file_over_the_size_bound_is_refused_before_it_is_parsed(tmp_path, size):
    # a valid config padded with a comment: only its size decides
    path = tmp_path / "c.yaml"
    path.write_text(PADDING + "#" + "x" * size + "\n")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        with pytest.raises(SpecError, match="larger than 256 KiB"):
            load_spec(str(path))
    else:
        assert load_spec(str(path)).params[0].name == "a"


SIZED = {"params": "trainingInput.hyperparameters.params", "scaleTier": "trainingInput.scaleTier",
         "packageUris": "trainingInput.packageUris",
         "args": "the trainer args (after --, or trainingInput.args)"}


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.fixed_dictionaries({
    "params": st.integers(1, 4000), "scaleTier": st.integers(0, 300_000),
    "packageUris": st.integers(0, 20_000), "args": st.integers(0, 200_000)}))
def test_a_config_is_refused_at_submit_naming_its_field_or_its_trials_can_start(tmp_path,
                                                                               sizes):
    params = [{"parameterName": f"p{i}", "type": "INTEGER", "minValue": 0, "maxValue": 10**9}
              for i in range(sizes["params"])]
    config = {"trainingInput": {
        "scaleTier": "x" * sizes["scaleTier"],
        "packageUris": [f"gs://bucket/p{i}.tar.gz" for i in range(sizes["packageUris"])],
        "hyperparameters": {"goal": "MINIMIZE", "params": params}}}
    args = ("--data=" + "y" * sizes["args"],)
    spec = load_spec(config)
    launch = LaunchConfig("trainer.task", str(FAKE_PACKAGE), str(tmp_path / "out"),
                          user_args=args)
    request = build_request("job", "999999999999", {p["parameterName"]: 10**9 for p in params},
                            spec, launch)
    argv, env = LocalLauncher(sys.executable).command(request)
    in_tf_config = {"params": params, "scaleTier": config["trainingInput"]["scaleTier"],
                    "packageUris": config["trainingInput"]["packageUris"], "args": list(args)}
    largest = max(in_tf_config, key=lambda k: len(json.dumps(in_tf_config[k])))
    try:
        jobs.check_startable(spec, launch, "job")
    except SpecError as e:
        assert "Argument list too long" in str(e)
        # the one argument over the limit, else the largest part of TF_CONFIG
        assert e.path == SIZED["args" if len(args[0]) >= 131072 else largest]
        if "(ARG_MAX)" not in str(e):  # one string over the limit: exec refuses it too
            with pytest.raises(OSError, match="Argument list too long"):
                subprocess.run(["true", *argv[1:]], env=env)
    else:  # accepted: a trial's command and environment really can be started
        assert subprocess.run(["true", *argv[1:]], env=env).returncode == 0
