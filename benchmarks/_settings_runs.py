"""What the scripts that fit a list of settings on ML-100K u1 share: their command line, the data
and thread setup, and the JSON line each fit prints and appends."""

import argparse
import json

import torch

from skcrossvae.experiments._common import movielens_split


def settings_parser(doc, output):
    """A parser for ``settings`` (JSON objects of parameters) with the common options."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("settings", nargs="+", help="JSON objects of parameters, one fit each")
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default=output)
    return parser


def u1_split(args):
    """Set torch's thread count from ``args`` and load ML-100K's u1 split."""
    torch.set_num_threads(args.threads)
    return movielens_split(args.data_home, "u1")


def record(row, output):
    """Print one fit's JSON line and append it to ``output``."""
    print(json.dumps(row), flush=True)
    with open(output, "a") as handle:
        handle.write(json.dumps(row) + "\n")
