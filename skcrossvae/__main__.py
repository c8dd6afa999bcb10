"""``python -m skcrossvae``: the command line (see :mod:`skcrossvae.experiments`)."""

from .experiments.cli import main

raise SystemExit(main())
