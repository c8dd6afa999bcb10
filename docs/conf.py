"""Sphinx configuration: numpydoc API reference, built with warnings as errors in the tests."""

import sys
from pathlib import Path

import skcrossvae

sys.path.insert(0, str(Path(__file__).parent))
from _results import render_all  # noqa: E402

# The results page's tables come from the records in benchmarks/results/.
render_all(Path(__file__).parent / "_generated")

project = "skcrossvae"
author = "the skcrossvae developers"
release = skcrossvae.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.doctest",
    "numpydoc",
    "sphinxcontrib.programoutput",
]
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
exclude_patterns = ["_build", "_generated"]
html_theme = "alabaster"
nitpicky = False
