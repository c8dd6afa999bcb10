"""The documentation builds with warnings as errors (and runs its examples); docstrings state
the defaults the signatures have."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _estimators import all_estimators

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.slow
def test_sphinx_build_has_no_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(tmp_path)],
        capture_output=True, text=True, cwd=DOCS,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _documented_defaults(cls):
    """``{name: default}`` from the numpydoc Parameters lines ``name[, name] : type, default=X``."""
    section = cls.__doc__.split("Parameters\n    ----------")[1].split("Attributes\n    ----------")[0]
    documented = {}
    for names, default in re.findall(r"^    (\w+(?:, \w+)*) : .*default=(.+)$", section, re.MULTILINE):
        for name in names.split(", "):
            documented[name] = default
    return documented


@pytest.mark.parametrize("cls", all_estimators(), ids=lambda cls: cls.__name__)
def test_documented_defaults_are_the_signature_defaults(cls):
    actual = cls().get_params(deep=False)
    documented = _documented_defaults(cls)
    assert set(documented) == set(actual), "parameters without a documented default, or extra ones"
    for name, text in documented.items():
        assert ast.literal_eval(text) == actual[name], f"{cls.__name__}.{name}: documented {text}"
