"""Command line of the package: ``python -m skcrossvae <command> [options]``."""

import argparse
import json

from ._ablation import run_ablation
from ._common import package_estimators
from ._compare import DATASETS, DEFAULT_MODELS, run_compare
from ._convergence import run_convergence
from ._demo import run_demo
from ._reproduce import BUDGETS, run_reproduce
from ._results import run_results


def _json_object(text):
    """argparse type of ``--extra-params``: a JSON object of estimator parameters."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc}): {text}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object of parameters, got: {text}")
    return value


def _add_common(parser, seeds=(0, 1, 2), extra_params_help=None):
    parser.add_argument("--data-home", default=None,
                        help="folder holding the data sets (default: $SKCROSSVAE_DATA)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(seeds),
                        help=f"random_state of the fits (default: {' '.join(map(str, seeds))})")
    parser.add_argument("--output", default=None, help="write the results to this JSON file")
    parser.add_argument("--n-jobs", type=int, default=1, metavar="N",
                        help="fits run at the same time, each with (CPUs // N) torch threads; "
                             "-1: one per CPU (default: 1)")
    if extra_params_help:
        parser.add_argument("--extra-params", type=_json_object, default=None, metavar="JSON",
                            help=extra_params_help)


def build_parser():
    """The argument parser of ``python -m skcrossvae``.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(prog="python -m skcrossvae", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="fit the default model and print a results table")
    demo.add_argument("--data-home", default=None,
                      help="folder holding ml-100k/ (default: $SKCROSSVAE_DATA); synthetic data otherwise")
    demo.add_argument("--random-state", type=int, default=0)
    demo.add_argument("--verbose", type=int, default=0)
    models = [cls.__name__ for cls in package_estimators()]
    results = commands.add_parser(
        "results", help="fit every estimator with its defaults on ML-100K u1 and print the table")
    _add_common(results, seeds=(0,))
    results.add_argument("--only", nargs="+", choices=models, default=None, metavar="CLASS",
                         help=f"estimator classes to run, of {', '.join(models)} (default: all)")
    ablation = commands.add_parser(
        "ablation", help="the paper's ablation study (Table 4) and one row per lever, on ML-100K u1")
    _add_common(ablation, extra_params_help=(
        'parameters set on every row, e.g. \'{"max_iter": 30}\''))
    convergence = commands.add_parser(
        "convergence", help="held-out RMSE per iteration of the paper's variants A-E (Fig. 4), on ML-100K u1")
    _add_common(convergence, extra_params_help=(
        "parameters set on every variant (not max_iter, early_stopping, n_iter_no_change, final_iter)"))
    convergence.add_argument("--iterations", type=int, default=60,
                             help="iterations of every fit, without early stop (default: 60)")
    convergence.add_argument("--plot", default=None, metavar="PATH",
                             help="draw the curves to this image file (needs matplotlib)")
    compare = commands.add_parser(
        "compare", help="test RMSE against baselines on ML-100K u1-u5, FilmTrust and CiaoDVD")
    _add_common(compare, extra_params_help="parameters of CrossFeedbackVAERegressor")
    compare.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=None, metavar="NAME",
                         help=f"data sets to run, of {', '.join(DATASETS)} (default: all)")
    compare.add_argument("--models", nargs="+", choices=models, default=list(DEFAULT_MODELS),
                         metavar="CLASS", help=f"estimator classes to compare, of {', '.join(models)} "
                         f"(default: {' '.join(DEFAULT_MODELS)})")
    reproduce = commands.add_parser(
        "reproduce", help="the paper's experiments (Tables 3-4, Figs. 2-4, verdicts) as a report")
    reproduce.add_argument("--data-home", default=None,
                           help="folder holding the data sets (default: $SKCROSSVAE_DATA)")
    reproduce.add_argument("--budget", choices=list(BUDGETS), default="smoke",
                           help="smoke: every step at toy size on synthetic data (minutes); standard: "
                                "ML-100K, FilmTrust, CiaoDVD with seeded grid samples (hours); "
                                "full: the paper's grids on every data set present (default: smoke)")
    reproduce.add_argument("--output", default=None, metavar="DIR",
                           help="folder of the records and the report; a rerun resumes it "
                                "(default: reproduce-BUDGET)")
    reproduce.add_argument("--n-jobs", type=int, default=None, metavar="N",
                           help="fits run at the same time: a search's candidates, Fig. 3's and Fig. 4's fits "
                                "(joblib; -1: all CPUs)")
    reproduce.add_argument("--scheduler", default=None, metavar="ADDRESS",
                           help="run the fits on this dask.distributed scheduler (joblib's Dask backend)")
    reproduce.add_argument("--dry-run", action="store_true",
                           help="print the number of fits still to run and a time estimate, then stop")
    return parser


def main(argv=None):
    """Parse ``argv`` (default: ``sys.argv[1:]``) and run the command; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        run_demo(args.data_home, args.random_state, args.verbose)
    elif args.command == "results":
        run_results(args.data_home, args.seeds, args.only, args.output, n_jobs=args.n_jobs)
    elif args.command == "ablation":
        run_ablation(args.data_home, args.seeds, args.extra_params, args.output, n_jobs=args.n_jobs)
    elif args.command == "convergence":
        run_convergence(args.data_home, args.seeds, args.iterations, args.extra_params,
                        args.output, args.plot, n_jobs=args.n_jobs)
    elif args.command == "compare":
        run_compare(args.data_home, args.seeds, args.datasets, args.models,
                    dict(CrossFeedbackVAERegressor=args.extra_params or {}), args.output,
                    n_jobs=args.n_jobs)
    elif args.command == "reproduce":
        run_reproduce(args.data_home, args.budget, args.output, n_jobs=args.n_jobs,
                      scheduler=args.scheduler, dry_run=args.dry_run)
    return 0
