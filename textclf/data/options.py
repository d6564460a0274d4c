"""The value types of the data modules' options, so that the ``textclf`` parser refuses a bad value in one line.

The types are jsonargparse's restricted numbers (plain ``int``/``float`` to Python and mypy): the parser checks
them when it reads a recipe or the command line. :func:`check_options` applies the same rules (and those that
relate two options) when a data module is built from Python, where no parser runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jsonargparse.typing import NonNegativeInt, OpenUnitInterval, PositiveInt, restricted_number_type

from textclf.errors import TextclfError

__all__ = ["AtLeastTwo", "NonNegativeInt", "OpenUnitInterval", "PositiveInt", "check_options", "plain"]

AtLeastTwo = restricted_number_type("AtLeastTwo", int, (">=", 2), docstring="int restricted to be >=2")


def _int(low: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _fraction(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < 1


RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "max_length": (_optional(_int(1)), "an integer >= 1 or null"),
    "min_freq": (_int(1), "an integer >= 1"),
    "max_vocab_size": (_optional(_int(1)), "an integer >= 1 or null"),
    "vectors_vocab_size": (_int(0), "an integer >= 0"),
    "batch_size": (_int(1), "an integer >= 1"),
    "eval_batch_size": (_optional(_int(1)), "an integer >= 1 or null"),
    "bucket_size": (_int(1), "an integer >= 1"),
    "val_fraction": (_fraction, "a number in (0, 1)"),
    "test_fraction": (_fraction, "a number in (0, 1)"),
    "fold": (_optional(_int(0)), "an integer >= 0 or null"),
    "num_folds": (_int(2), "an integer >= 2"),
    "num_workers": (_int(0), "an integer >= 0"),
    "seed": (_int(0), "an integer >= 0"),
    "keep_words_with_vectors": (lambda v: isinstance(v, bool), "true or false"),
    "extend_vocab": (lambda v: isinstance(v, bool), "true or false"),
    "multi_label": (lambda v: isinstance(v, bool), "true or false"),
}
"""Each option's check and what it must be, as the one-line error says."""


def check_options(options: dict[str, Any]) -> None:
    """Refuse option values the data module cannot work with (those of :data:`RULES` among ``options``).

    Raises:
        TextclfError: ``data.<name> is <value>, not <what it must be>``; or a fold outside ``num_folds``, or
            fractions that leave no training data.
    """
    for name, value in options.items():
        if name in RULES and not RULES[name][0](value):
            raise TextclfError(f"data.{name} is {value!r}, not {RULES[name][1]}")
    fold, folds = options.get("fold"), options.get("num_folds", 10)
    if fold is not None and fold >= folds:
        raise TextclfError(f"data.fold is {fold}, not in [0, {folds - 1}] (data.num_folds is {folds})")
    val, test = options.get("val_fraction", 0.1), options.get("test_fraction", 0.1)
    if val + test >= 1:
        raise TextclfError(f"data.val_fraction + data.test_fraction is {val + test:g}: nothing is left to train on")


def plain(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the parser's restricted numbers (``PositiveInt(5)``) as plain ``int``/``float``.

    The parser hands them over as instances of jsonargparse's classes; kept as such they would travel into
    checkpoints (the tokenizer's ``max_length``), which ``torch.load(weights_only=True)`` then refuses.
    """
    return {
        name: int(v) if isinstance(v, int) and not isinstance(v, bool) else float(v) if isinstance(v, float) else v
        for name, v in options.items()
    }
