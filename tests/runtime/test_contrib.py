"""``tf.contrib`` of the 1.x runtime mode without TensorFlow: which module names it answers
for, the error for everything else, and ``HParams`` (pure Python)."""
from __future__ import annotations

import json

import pytest

from tf_hptune.runtime.trial import contrib
from tf_hptune.runtime.trial.contrib.training.hparam import HParams, parse_values


def test_a_missing_symbol_is_named_with_the_mode_and_what_it_provides():
    error = contrib.missing("tf.contrib.slim")
    assert isinstance(error, AttributeError)
    assert str(error).startswith("tf.contrib.slim is not available in tf-hptune's TensorFlow 1.x "
                                 "runtime mode: TensorFlow 2.15 has no tf.contrib, and the mode "
                                 "provides only tf.contrib.estimator (add_metrics, ")
    assert "tf.contrib.training.HParams" in str(error)


def test_an_unprovided_module_is_an_import_error_with_that_message():
    with pytest.raises(ModuleNotFoundError) as e:
        contrib.find_spec("tensorflow.contrib.learn.python.learn.utils")
    assert str(e.value) == str(contrib.missing("tf.contrib.learn.python.learn.utils"))
    assert e.value.name is None  # so that `from tensorflow.contrib import x` shows it


@pytest.mark.parametrize("name, target", [
    ("tensorflow.contrib", None),
    ("tensorflow.contrib.training.python", None),
    ("tensorflow.contrib.training.python.training", None),
    ("tensorflow.contrib.training.python.training.hparam", f"{contrib.__name__}.training.hparam"),
    ("tensorflow.contrib.learn.python.learn.learn_runner",
     f"{contrib.__name__}.learn.learn_runner"),
    ("tensorflow.contrib.estimator", f"{contrib.__name__}.estimator"),
])
def test_provided_names_and_the_packages_above_them_are_found(name, target):
    spec = contrib.find_spec(name)
    assert spec.name == name and spec.submodule_search_locations == []
    assert spec.loader.target == target


def test_forwarded_names_resolve_lazily_and_others_are_missing():
    getattr_ = contrib.forwarding("tf.contrib.x", {"dumps": "json:dumps"})
    assert getattr_("dumps") is json.dumps
    with pytest.raises(AttributeError, match=r"^tf\.contrib\.x\.loads is not available"):
        getattr_("loads")
    with pytest.raises(AttributeError, match=r"^__wrapped__$"):
        getattr_("__wrapped__")


def test_hparams_keep_their_types_through_parse_and_overrides():
    hp = HParams(learning_rate=0.1, units=[64, 32], name="dnn", deep=False, steps=10)
    assert hp.parse("learning_rate=1,units=[8, 4],name=wide deep, deep=true") is hp
    assert hp.values() == {"learning_rate": 1.0, "units": [8, 4], "name": "wide deep",
                           "deep": True, "steps": 10}
    assert isinstance(hp.learning_rate, float)
    hp.override_from_dict({"steps": 20}).parse_json('{"deep": false}')
    assert (hp.steps, hp.deep) == (20, False)
    assert "steps" in hp and hp.get("missing", 5) == 5
    assert json.loads(hp.to_json(sort_keys=True)) == hp.values()
    assert hp.parse("").values() == hp.values()
    assert str(HParams(b=1, a=2)) == "[('a', 2), ('b', 1)]"


@pytest.mark.parametrize("values, message", [
    ("steps=1.5", "Could not parse hyperparameter steps='1.5' as int"),
    ("deep=maybe", "Could not parse hyperparameter deep='maybe' as bool"),
    ("other=1", "Unknown hyperparameter 'other'"),
    ("steps=1,steps=2", "given twice"),
    ("steps", "Malformed hyperparameter values at 'steps'"),
    ("units=3", "units is a list"),
    ("steps=[1,2]", "steps is one value"),
])
def test_hparams_refuse_what_does_not_fit(values, message):
    hp = HParams(steps=10, deep=False, units=[1])
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        hp.parse(values)


def test_hparams_refuse_bad_names_and_values():
    hp = HParams(steps=10)
    for name in ("steps", "values", "parse"):
        with pytest.raises(ValueError, match="reserved or defined already"):
            hp.add_hparam(name, 1)
    with pytest.raises(ValueError, match="cannot be empty"):
        hp.add_hparam("units", [])
    with pytest.raises(ValueError, match="steps is a int; 0.5 does not fit"):
        hp.set_hparam("steps", 0.5)
    with pytest.raises(ValueError, match="HParamDef"):
        HParams(hparam_def=object())
    hp.del_hparam("steps")
    assert hp.values() == {} and not hasattr(hp, "steps")


def test_parse_values_can_ignore_unknown_names():
    assert parse_values("a=1,b=x", {"a": int}, ignore_unknown=True) == {"a": 1}
    assert parse_values("", {"a": int}) == {}
