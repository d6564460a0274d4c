"""``textclf vectors train``: train word vectors (Word2Vec, fastText) on your own text, for recipes to use.

The arguments are parsed here (argparse: no torch, no gensim, so ``--help`` is instant); the work is
:func:`textclf.vectors_training.train_vectors`, imported when it runs. See docs/vectors.md, "Training vectors on
your own text".
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from textclf.errors import TextclfError

USAGE = "textclf vectors train -o OUT [--input FILE ...] [--data DATA.yaml [--split train|unlabelled]] [options]"
DESCRIPTION = """Train word vectors with gensim on text files and/or a corpus, tokenised exactly as the classifier
tokenises (the data config's tokenizer; every token kept). Word2Vec writes word2vec binary, fastText Facebook's .bin
(its subword n-grams kept); both are read back before they replace OUT, and OUT.json records the settings, sources,
counts and timings. Give OUT to a recipe as data.vectors."""
EPILOG = """example: textclf vectors train --data recipes/imdb/data.yaml --split unlabelled -o imdb-w2v.bin
(--workers 1 with a fixed --seed repeats a run exactly; several workers do not)"""


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one-line :class:`TextclfError` (``textclf: error: ...``, exit status 2 in the CLI)."""

    def error(self, message: str) -> NoReturn:
        """Raise the error instead of printing the usage."""
        raise TextclfError(f"{message} (see {self.prog} --help)")


def parser() -> argparse.ArgumentParser:
    """The parser of ``textclf vectors``, with its one subcommand ``train``."""
    from textclf.vectors_training.train import MAX_DEFAULT_WORKERS, VectorsSettings

    defaults = VectorsSettings()
    top = _Parser(prog="textclf vectors", description="Word vectors of your own.")
    commands = top.add_subparsers(dest="command", required=True, metavar="train", parser_class=_Parser)
    train = commands.add_parser(
        "train",
        help="train word vectors",
        description=DESCRIPTION,
        epilog=EPILOG,
        usage=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = train.add_argument_group("what to train on")
    what.add_argument("-o", "--output", required=True, metavar="OUT", help="the vectors file to write")
    what.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="FILE",
        help="a text file, one text per line, UTF-8 (gzip allowed; a FIFO, or - for stdin, is read once); repeat "
        "for more",
    )
    what.add_argument(
        "--data",
        metavar="DATA.yaml",
        help="a data config as recipes give it (class_path: textclf.IMDB, init_args: ...), or a recipe; "
        "its corpus and its tokenizer are used",
    )
    what.add_argument(
        "--split",
        action="append",
        choices=["train", "unlabelled"],
        help="with --data: train (default), the texts textclf fit trains on (validation and test texts held out "
        "as fit holds them out), or unlabelled, its unlabelled texts (IMDB); repeat for both",
    )
    what.add_argument(
        "--tokenizer",
        choices=["basic", "cased", "whitespace"],
        help="without --data: how texts are tokenised (default basic); with --data it must be the data's",
    )
    what.add_argument(
        "--max-texts",
        dest="max_texts",
        type=_whole,
        metavar="N",
        help="train on the first N texts only (a quick trial; default: all)",
    )
    model = train.add_argument_group("the model")
    model.add_argument(
        "--model", choices=["word2vec", "fasttext"], default=defaults.model, help=f"default {defaults.model}"
    )
    kind = model.add_mutually_exclusive_group()
    kind.add_argument("--sg", dest="sg", action="store_true", default=defaults.sg, help="skip-gram (default)")
    kind.add_argument("--cbow", dest="sg", action="store_false", help="CBOW (faster, a little worse for rare words)")
    for name, text in (
        ("dim", "vector size"),
        ("window", "context words on each side"),
        ("min_count", "leave out words seen fewer times"),
        ("epochs", "passes over the text"),
        ("negative", "negative samples per word"),
        ("seed", "random seed"),
        ("min_n", "fastText: shortest character n-gram"),
        ("max_n", "fastText: longest character n-gram"),
        ("bucket", "fastText: n-gram table rows (the file holds bucket x dim floats)"),
    ):
        _setting(model, name, _whole, f"{text} (default {getattr(defaults, name)})", getattr(defaults, name))
    model.add_argument(
        "--workers",
        type=_whole,
        metavar="N",
        help=f"training threads (default: the CPUs this process may use, at most {MAX_DEFAULT_WORKERS})",
    )
    phrases = train.add_argument_group("phrases")
    phrases.add_argument(
        "--phrases",
        action="store_true",
        help="join frequent word pairs into one token (new_york) before training (gensim Phrases)",
    )
    _setting(phrases, "phrases_min_count", _whole, "a pair must occur this often (default %(default)s)",
             defaults.phrases_min_count)  # fmt: skip
    _setting(phrases, "phrases_threshold", float, "... and score above this (default %(default)s)",
             defaults.phrases_threshold)  # fmt: skip
    train.add_argument("--force", action="store_true", help="replace an existing OUT (and OUT.json)")
    return top


def _setting(group: argparse._ArgumentGroup, name: str, kind: Callable[[str], Any], text: str, default: Any) -> None:
    """``--NAME-WITH-DASHES N`` (``X`` for a float) into ``name``: one of :class:`VectorsSettings`' numbers."""
    metavar = "X" if kind is float else "N"
    group.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, metavar=metavar, default=default, help=text)


def _whole(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None


def main(args: list[str]) -> None:
    """``textclf vectors ARGS``: parse them and train.

    Ctrl-C and SIGTERM end the run with one line on stderr and the status of the signal (130, 143); the run has
    removed its temporary files, and OUT was not written.

    Raises:
        TextclfError: a bad argument or anything :func:`~textclf.vectors_training.train_vectors` refuses (one line).
        SystemExit: 0 after ``--help``; 130 after Ctrl-C, 143 after SIGTERM.
    """
    from textclf.logs import setup_logging

    setup_logging()
    if args[:1] == ["train"] and any(arg in ("-c", "--config") or arg.startswith("--config=") for arg in args):
        raise TextclfError(
            "textclf vectors train takes options only, no -c/--config file (see textclf vectors train --help)"
        )
    namespace, unknown = parser().parse_known_args(args)
    if unknown:
        where = "textclf vectors train" if namespace.command == "train" else "textclf vectors"
        raise TextclfError(f"unrecognized arguments: {' '.join(unknown)} (see {where} --help)")
    options = vars(namespace)
    options.pop("command")
    if options["split"] and options["data"] is None:
        raise TextclfError("--split reads a corpus: give it with --data")
    from textclf.vectors_training.interrupt import SIGINT_EXIT, SIGTERM_EXIT, Terminated
    from textclf.vectors_training.train import train_vectors

    output = options.pop("output")
    try:
        train_vectors(
            output,
            inputs=options.pop("input"),
            data=options.pop("data"),
            splits=options.pop("split") or ["train"],
            tokenizer=options.pop("tokenizer"),
            force=options.pop("force"),
            max_texts=options.pop("max_texts"),
            **options,
        )
    except (KeyboardInterrupt, Terminated) as e:
        signal = "SIGTERM" if isinstance(e, Terminated) else "Ctrl-C"
        print(f"textclf: error: interrupted ({signal}); nothing was written to {output}", file=sys.stderr)
        raise SystemExit(SIGTERM_EXIT if isinstance(e, Terminated) else SIGINT_EXIT) from None
