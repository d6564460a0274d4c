"""A command's own options picked out of its arguments; the rest passes on to ``textclf fit`` in order.

``textclf cv`` and ``textclf tune`` run fits: they take a few options of their own and hand every other argument to
each fit unchanged, in the order given (a later ``-c`` layer still overrides an earlier option, as in ``fit``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from textclf.errors import TextclfError


def split_arguments(
    argv: list[str],
    *,
    valued: Collection[str],
    flags: Collection[str],
    refused: Mapping[str, str],
    take: Callable[[str, str | None], list[str]],
    help_text: str,
    usage: str,
) -> list[str]:
    """The arguments for ``fit``: ``argv`` without the command's own options, each handed to ``take`` in turn.

    ``valued`` options take a value (``--name value`` or ``--name=value``; ``--na-me`` is ``--na_me``), ``flags``
    none (``take`` gets None). ``take`` returns what stands for the option among the fit arguments (``-c FILE``
    passes on; ``[]`` for the command's own). ``refused`` maps the options the command sets itself to their error.

    Raises:
        TextclfError: a valued option without a value, a refused option, or whatever ``take`` raises.
        SystemExit: ``-h``/``--help`` (status 0, after printing ``help_text``).
    """
    spelled = {"--" + option[2:].replace("-", "_"): option for option in (*valued, *flags) if option.startswith("--")}
    fit_args: list[str] = []
    tokens = list(argv)
    while tokens:
        token = tokens.pop(0)
        name, has_value, inline = token.partition("=")
        if name.startswith("--"):
            name = spelled.get("--" + name[2:].replace("-", "_"), name)
        if token in ("-h", "--help"):
            print(help_text)
            raise SystemExit(0)
        if name in valued:
            if not has_value and not tokens:
                raise TextclfError(f"{name} needs a value ({usage})")
            fit_args += take(name, inline if has_value else tokens.pop(0))
        elif name in flags and not has_value:
            fit_args += take(name, None)
        elif name in refused:
            raise TextclfError(refused[name])
        else:
            fit_args.append(token)
    return fit_args
