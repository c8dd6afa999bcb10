"""Sphinx configuration: numpydoc API reference, built with warnings as errors in the tests."""

import skcrossvae

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
exclude_patterns = ["_build"]
html_theme = "alabaster"
nitpicky = False
