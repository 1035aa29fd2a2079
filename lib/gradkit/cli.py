"""The ``gradkit`` command.

One argparse program with a subcommand per job. The library adds ``train``
(the MLP-on-digits job); the autograder package, when installed, adds its
course workflow (release, collect, grade, feedback, export, report, verify,
demo) through ``gradkit_autograder.cli.register``. Without the autograder,
``gradkit demo`` runs the training job instead.

Each subcommand's handler returns the exit code. The autograder's handlers
report a user's mistake (unknown assignment, missing course, bad settings) as
one line ``gradkit <command>: error: ...`` with exit code 2 themselves, so this
entry point and ``python -m gradkit_autograder`` behave the same.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _run_train(args: argparse.Namespace) -> int:
    """Train an MLP on the 8x8 digits and report accuracy, throughput and a loss curve."""
    from gradkit.training import train_digits_mlp

    result = train_digits_mlp(epochs=args.epochs, seed=args.seed, plot_path=args.plot)
    print(f"test accuracy : {result.test_accuracy:.2%}")
    print(f"throughput    : {result.samples_per_second:,.0f} samples/s")
    print(f"wall time     : {result.seconds:.1f} s")
    if args.plot:
        print(f"loss curve    : {Path(args.plot).resolve()}")
    return 0


def _add_train(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> None:
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog="example: gradkit train --epochs 20 --plot out/loss.png",
    )
    parser.add_argument("--epochs", type=int, default=20, help="passes over the training set")
    parser.add_argument("--seed", type=int, default=0, help="seed for initialisation and shuffling")
    parser.add_argument("--plot", default="out/digits_loss.png", help="where to save the loss curve PNG")
    parser.set_defaults(func=_run_train)


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with every subcommand that is installed."""
    parser = argparse.ArgumentParser(prog="gradkit", description="gradkit course kit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(subparsers, "train", "train an MLP on the 8x8 digits with gradkit")
    try:
        from gradkit_autograder.cli import register
    except ImportError:
        # The library alone: the main job is the training run.
        _add_train(subparsers, "demo", "the main job: train an MLP on the digits")
    else:
        register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gradkit`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
