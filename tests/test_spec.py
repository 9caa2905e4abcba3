"""The fit's parameters are listed once (fastgd/_spec.py's FitSpec): fit's signature,
GDRegressor's constructor, their docstrings and what the estimator forwards are
checked against that list."""

import inspect
import re

import numpy as np
import pytest

import fastgd
from fastgd import _spec

# fit's arguments that are data of the call, not options.
DATA_ARGUMENTS = ("X", "y", "coef_init", "intercept_init", "sample_weight")
# GDRegressor's own parameter, which fastgd.fit has no use for.
ESTIMATOR_ONLY = ("warm_start",)


def _spec_defaults():
    return {name: _spec.FitSpec._field_defaults[name] for name in _spec.FitSpec._fields}


def _documented_parameters(docstring):
    """Names in the numpydoc Parameters section of a docstring."""
    section = docstring.split("Parameters\n    ----------\n", 1)[1]
    section = re.split(r"\n    [A-Z][a-z]+\n    -+\n", section, maxsplit=1)[0]
    return re.findall(r"^    (\w+) :", section, flags=re.MULTILINE)


def test_fit_signature_is_the_spec():
    parameters = inspect.signature(fastgd.fit).parameters
    options = {name: p.default for name, p in parameters.items() if name not in DATA_ARGUMENTS}
    assert options == _spec_defaults()
    # Every option is keyword-only, in the spec's order.
    assert [p.kind for name, p in parameters.items() if name in options] == [
        inspect.Parameter.KEYWORD_ONLY
    ] * len(options)
    assert [name for name in parameters if name in options] == list(_spec.FIT_PARAMETERS)


def test_estimator_parameters_are_the_spec():
    pytest.importorskip("sklearn")
    parameters = inspect.signature(fastgd.GDRegressor.__init__).parameters
    options = {
        name: p.default for name, p in parameters.items() if name not in ("self",) + ESTIMATOR_ONLY
    }
    assert options == _spec_defaults()
    assert (
        set(fastgd.GDRegressor().get_params())
        == set(_spec.FIT_PARAMETERS) | set(ESTIMATOR_ONLY)
        == set(_spec.ESTIMATOR_PARAMETERS)
    )
    assert {name: parameters[name].default for name in ESTIMATOR_ONLY} == {
        "warm_start": False
    }  # (what fastgd info takes as its default)


@pytest.mark.parametrize("documented", ["fit", "GDRegressor"])
def test_every_parameter_is_documented_once_in_signature_order(documented):
    pytest.importorskip("sklearn")
    function = getattr(fastgd, documented)
    signature = inspect.signature(function.__init__ if documented == "GDRegressor" else function)
    names = [name for name in signature.parameters if name != "self"]
    assert _documented_parameters(function.__doc__) == names
    assert set(names) - set(DATA_ARGUMENTS + ESTIMATOR_ONLY) == set(_spec.FIT_PARAMETERS)


def test_estimator_forwards_every_option_to_the_fit(monkeypatch):
    """Each constructor parameter reaches the fit: a distinct bad value of each one
    raises the error that names it."""
    pytest.importorskip("sklearn")
    X, y = np.ones((4, 2)), np.arange(4.0)
    bad = dict(
        lr=-1.0,
        max_iter=0,
        tol=-1.0,
        fit_intercept="yes",
        backend="fortran",
        n_threads=0,
        solver="qr",
        method="newton",
        penalty="l3",
        alpha=-1.0,
        l1_ratio=2.0,
        momentum=1.5,
        nesterov="yes",
        batch_size=0,
        shuffle="yes",
        random_state="seed",
        schedule="optimal",
        power_t="half",
        early_stopping="yes",
        validation_fraction=1.5,
        n_iter_no_change=0,
        callback=3,
        verbose=-1,
    )
    assert set(bad) == set(_spec.FIT_PARAMETERS)
    for name, value in bad.items():
        options = {"penalty": "l2"} if name in ("alpha", "l1_ratio") else {}
        if name == "l1_ratio":
            options = {"penalty": "elasticnet"}
        if name in ("validation_fraction", "n_iter_no_change"):
            options = {"early_stopping": True}
        if name == "power_t":
            options = {"schedule": "invscaling"}
        if name == "nesterov":
            options = {"momentum": 0.5}
        model = fastgd.GDRegressor(**options, **{name: value})
        with pytest.raises((ValueError, TypeError), match=name):
            model.fit(X, y)
