"""Command line of the package: ``python -m skcrossvae <command> [options]``."""

import argparse


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m skcrossvae", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="fit the default model and print a results table")
    demo.add_argument("--data-home", default=None,
                      help="folder holding ml-100k/ (default: $SKCROSSVAE_DATA); synthetic data otherwise")
    demo.add_argument("--random-state", type=int, default=0)
    demo.add_argument("--verbose", type=int, default=0)
    results = commands.add_parser(
        "results", help="fit every estimator with its defaults on ML-100K u1 and print the table")
    results.add_argument("--data-home", default=None, help="folder holding ml-100k/")
    results.add_argument("--seeds", type=int, nargs="+", default=[0])
    results.add_argument("--only", nargs="+", default=None, help="estimator class names to run")
    results.add_argument("--output", default=None, help="write the rows to this JSON file")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo

        run_demo(args.data_home, args.random_state, args.verbose)
    elif args.command == "results":
        from ._results import run_results

        run_results(args.data_home, args.seeds, args.only, args.output)
    return 0
