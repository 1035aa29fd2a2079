"""The ``gradkit`` command.

One argparse program with a subcommand per job. The library itself adds only
``train`` (the MLP-on-digits job). Other installed packages add their own
subcommands through the entry-point group ``gradkit.commands``: each entry point
is a ``register(subparsers)`` callable. The autograder registers its course
workflow that way (release, collect, grade, feedback, export, report, verify,
demo), so the library never imports the grader and knows nothing of its verbs.

Each subcommand's handler returns the exit code.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points
from pathlib import Path

#: Entry-point group through which installed packages add ``gradkit`` subcommands.
COMMANDS_GROUP = "gradkit.commands"


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


def _add_train(subparsers: argparse._SubParsersAction) -> None:
    help_text = "train an MLP on the 8x8 digits with gradkit"
    parser = subparsers.add_parser(
        "train",
        help=help_text,
        description=help_text,
        epilog="example: gradkit train --epochs 20 --plot out/loss.png",
    )
    parser.add_argument("--epochs", type=int, default=20, help="passes over the training set")
    parser.add_argument("--seed", type=int, default=0, help="seed for initialisation and shuffling")
    parser.add_argument("--plot", default="out/digits_loss.png", help="where to save the loss curve PNG")
    parser.set_defaults(func=_run_train)


def build_parser(plugins: bool = True) -> argparse.ArgumentParser:
    """Build the parser: ``train``, plus (``plugins=True``) every registered subcommand."""
    parser = argparse.ArgumentParser(prog="gradkit", description="gradkit course kit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(subparsers)
    if plugins:
        for entry_point in entry_points(group=COMMANDS_GROUP):
            entry_point.load()(subparsers)
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
