"""The ``textclf`` command: each subcommand parsed with only the imports it needs.

``fit``, ``validate`` and ``test`` are LightningCLI's, over recipes (:mod:`textclf.lightning_cli`, imported only
for them). ``predict``, ``evaluate``, ``export``, ``serve`` and ``explain`` run on a checkpoint alone
(:mod:`textclf.commands`; serve and explain live in :mod:`textclf.serve_cli` and :mod:`textclf.explain_cli`): they are
parsed here by a jsonargparse parser of the same family, without LightningCLI, and ``textclf --help`` lists every
subcommand without importing torch. All of them take ``-c config.yaml``, ``--print_config`` and ``--threads``.
``textclf cv`` hands its arguments to :func:`textclf.cv.main`, ``textclf tune`` to :func:`textclf.tune.main`,
``textclf vectors`` (``vectors train``: word vectors of your own text) to :func:`textclf.vectors_cli.main`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, NoReturn

from jsonargparse import ActionConfigFile, ArgumentParser

from textclf.commands import COMMANDS, DESCRIPTION, DESCRIPTIONS, PROG, add_threads_argument, one_line_error
from textclf.errors import TextclfError
from textclf.logs import setup_logging

if TYPE_CHECKING:
    from textclf.lightning_cli import TextclfCLI, TextclfParser  # noqa: F401  (re-exported on first use)

HELP_FLAGS = ("-h", "--help")


def __getattr__(name: str) -> Any:
    """``TextclfCLI`` and ``TextclfParser`` (the LightningCLI of fit/validate/test), imported on first use."""
    if name in ("TextclfCLI", "TextclfParser"):
        import textclf.lightning_cli

        return getattr(textclf.lightning_cli, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class CommandParser(ArgumentParser):
    """The parser of ``textclf --help`` and of the checkpoint commands: one-line argument errors, exit status 2."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        """``textclf: error: ...`` on one line and exit status 2 (an ArgumentError where exiting is off)."""
        if not self.exit_on_error:
            super().error(message, ex)
        one_line_error(self, message, ex)


def command_parser(name: str | None = None) -> CommandParser:
    """``textclf``'s parser with every subcommand listed; only ``name``'s arguments are added (none for None).

    The other subcommands are empty placeholders: this parser is used for ``textclf --help`` and for predict,
    evaluate and export, never for a subcommand it left empty.
    """
    from textclf import __version__

    def new(**options: Any) -> CommandParser:
        parser = CommandParser(dump_header=[f"textclf=={__version__}"], default_env=False, **options)
        parser.add_argument(
            "-c", "--config", action=ActionConfigFile, help="Path to a configuration file in json or yaml format."
        )
        return parser

    parser = new(prog=PROG, description=DESCRIPTION)
    subcommands = parser.add_subcommands()
    for subcommand, description in DESCRIPTIONS.items():
        subparser = new(description=description)
        if subcommand == name and name in COMMANDS:
            COMMANDS[name].add_arguments(subparser)
            add_threads_argument(subparser)
        subcommands.add_subcommand(subcommand, subparser, help=description)
    return parser


def run_command(args: list[str]) -> None:
    """Parse ``predict|evaluate|export|serve|explain ARGS`` (or ``--help``), set the threads, run the command.

    Raises:
        SystemExit: 0 after ``--help`` or ``--print_config``; 2 on an argument error (one line on stderr).
    """
    name = args[0] if args and args[0] in COMMANDS else None
    config = command_parser(name).parse_args(args)
    subcommand = config.get("subcommand")
    if subcommand not in COMMANDS:  # a placeholder: only reachable through a route main() does not take
        raise TextclfError(f"textclf {subcommand}: run it as the first argument (see textclf --help)")
    from textclf.threads import set_threads

    set_threads(config[subcommand].get("threads"))
    COMMANDS[subcommand].run(config[subcommand])


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``textclf`` console script and ``python -m textclf``.

    ``cv`` goes to :func:`textclf.cv.main`, ``tune`` to :func:`textclf.tune.main`, ``vectors`` to
    :func:`textclf.vectors_cli.main`; the checkpoint commands, no
    arguments, ``--help`` and unknown subcommands to :func:`run_command`; everything else (fit/validate/test,
    top-level ``-c``) to LightningCLI.
    Errors a user can cause (:class:`~textclf.errors.TextclfError`) end with one line and exit status 2.
    """
    setup_logging()
    args = list(sys.argv[1:] if argv is None else argv)
    first = args[0] if args else None
    try:
        if first == "cv":
            from textclf.cv import main as cross_validate

            cross_validate(args[1:])
        elif first == "tune":
            from textclf.tune import main as tune

            tune(args[1:])
        elif first == "vectors":
            from textclf.vectors_cli import main as vectors

            vectors(args[1:])
        elif _light(first):
            run_command(args)
        else:
            from textclf.lightning_cli import run

            run(None if argv is None else args)  # None: LightningCLI reads sys.argv itself (and warns otherwise)
    except Exception as e:
        cause = _user_error(e)
        if cause is None:
            raise
        print(f"textclf: error: {cause}", file=sys.stderr)
        raise SystemExit(2) from None


def _light(first: str | None) -> bool:
    """Whether :func:`run_command` parses an argument list starting with ``first`` (else LightningCLI does).

    Yes for the checkpoint commands (:data:`~textclf.commands.COMMANDS`), for nothing or ``--help`` (the subcommand
    list) and for an unknown word (a one-line error); no for fit/validate/test and for top-level options such as
    ``-c`` or ``--print_config``.
    """
    if first is None or first in COMMANDS or first in HELP_FLAGS:
        return True
    return first not in DESCRIPTIONS and not first.startswith("-")


def _user_error(error: BaseException | None) -> TextclfError | None:
    """The TextclfError behind ``error`` (jsonargparse wraps errors raised while computing linked arguments)."""
    while error is not None and not isinstance(error, TextclfError):
        error = error.__cause__ or error.__context__
    return error
