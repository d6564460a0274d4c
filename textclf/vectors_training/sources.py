"""What ``textclf vectors train`` reads: text files (or stdin) and corpora given by a data config.

A file source is one text per line, UTF-8, gzip-compressed or not (told by its first bytes, peeked from the same
stream, so a FIFO, ``/dev/stdin``, ``<(command)`` or ``-`` is read once, as it comes). Plain and gzip files are read
alike, by :func:`textclf.data.lines.iter_text_lines`: in bounded memory, a line longer than
:data:`~textclf.data.lines.DEFAULT_MAX_BYTES` (1 MiB) cut to its first MiB (the cut lines logged once per file,
as ``textclf predict`` logs them), a line that is not UTF-8 or holds a NUL byte an error naming the file, the line
and the byte (its offset in the file; in a gzip file, in the decompressed text).

A corpus source is a data config (what a recipe has under ``data``: ``class_path: textclf.IMDB`` and its
``init_args``): its training split, exactly the texts ``textclf fit`` trains on (the corpus's own splits, empty
texts dropped, then validation and, for corpora without one, test texts held out as
:func:`textclf.data.splits.carve_missing_splits` holds them out: with the config's ``val_fraction``,
``test_fraction``, ``seed``, ``fold`` and ``num_folds``), or its unlabelled text (IMDB's 50,000 ``unsup`` reviews).
"""

from __future__ import annotations

import gzip
import io
import logging
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import yaml

from textclf.data.lines import DEFAULT_MAX_BYTES, iter_text_lines
from textclf.errors import TextclfError
from textclf.wording import counted

log = logging.getLogger(__name__)

SPLITS = ("train", "unlabelled")
"""What ``--split`` reads of a corpus: its training texts, or its unlabelled texts (``unlabelled_texts()``)."""
STDIN = "-"
_SHOWN = 20  # cut lines named one by one in the warning of a file; the rest are counted


@dataclass
class Source:
    """Texts to learn from: what they are (for the log and the sidecar JSON) and how to read them (once)."""

    about: dict[str, Any]
    texts: Callable[[], Iterable[str]]


def file_source(path: Path) -> Source:
    """The lines of a UTF-8 text file (gzip-compressed or not: told by its bytes), one text each; ``-``: stdin.

    Any readable file is taken: a regular file, a FIFO, ``/dev/stdin``, a process substitution (read once). The
    sidecar names it by its absolute path.

    Raises:
        TextclfError: the file is missing or a folder (now); while read: it cannot be read, a gzip stream breaks, a
            line is not valid UTF-8 or holds a NUL byte (naming the file, the line and the byte).
    """
    name = str(path)
    if name == STDIN:
        return Source({"input": STDIN}, lambda: _file_texts(STDIN, sys.stdin.buffer))
    if path.is_dir():
        raise TextclfError(f"--input {path}: a folder, not a file")
    if not path.exists():
        raise TextclfError(f"--input {path}: no such file")
    where = str(path.resolve()) if path.is_file() else str(path.absolute())  # /dev/stdin resolves to pipe:[...]
    return Source({"input": where}, lambda: _opened_texts(path))


def _opened_texts(path: Path) -> Iterator[str]:
    try:
        handle = path.open("rb")
    except OSError as e:
        raise TextclfError(f"cannot read {path}: {e.strerror or e}") from None
    with handle:
        yield from _file_texts(str(path), handle)


def _file_texts(name: str, handle: BinaryIO) -> Iterator[str]:
    """The texts of one stream, read once: gzip told by its first two bytes (peeked, not consumed)."""
    try:
        head = cast(io.BufferedReader, handle).peek(2)[:2]  # open(..., "rb") and sys.stdin.buffer are buffered
    except OSError as e:
        raise TextclfError(f"cannot read {name}: {e.strerror or e}") from None
    gzipped = head == b"\x1f\x8b"
    stream = _Checked(cast(BinaryIO, gzip.GzipFile(fileobj=handle, mode="rb")) if gzipped else handle, name, gzipped)
    cut: list[int] = []
    count = 0
    # iter_text_lines reads a given stream under the name "-"; its error lines are given this file's name back
    for line in iter_text_lines(STDIN, "utf-8", DEFAULT_MAX_BYTES, stdin=cast(IO[bytes], stream)):
        if line.text is None:
            raise TextclfError(name + str(line.error).removeprefix(STDIN))
        if line.cut:
            count += 1
            if count <= _SHOWN:
                cut.append(line.number)
        yield line.text
    if count:
        shown = ", ".join(map(str, cut)) + (", ..." if count > _SHOWN else "")
        log.warning("%s: %s (%s) longer than %s bytes, cut to their first %s", name, counted(count, "line"), shown,
                    *[f"{DEFAULT_MAX_BYTES:,}"] * 2)  # fmt: skip


class _Checked:
    """``readline`` of a stream whose read errors are one line naming the file (a broken gzip stream: its line)."""

    def __init__(self, stream: BinaryIO, name: str, gzipped: bool) -> None:
        self.stream, self.name, self.gzipped, self.lines = stream, name, gzipped, 0

    def readline(self, size: int = -1) -> bytes:
        try:
            data = self.stream.readline(size)
        except (OSError, EOFError, zlib.error) as e:
            if self.gzipped:
                raise TextclfError(f"{self.name}: the gzip stream breaks after line {self.lines} ({e})") from None
            raise TextclfError(f"cannot read {self.name}: {getattr(e, 'strerror', None) or e}") from None
        self.lines += data.count(b"\n")
        return data


def load_data_config(path: Path) -> dict[str, Any]:
    """The data config in a YAML file: ``class_path``/``init_args`` at the top, or a recipe's ``data`` section.

    A recipe's ``data: data.yaml`` is read relative to the recipe. Only a data module of textclf itself may be
    named (``textclf.IMDB``, ``textclf.FileDataModule``): nothing the file names is imported.

    Raises:
        TextclfError: the file cannot be read or is not YAML, holds no data config, or names another class_path.
    """
    config = _yaml(path)
    if isinstance(config, dict) and "class_path" not in config and "data" in config:  # a recipe
        config = config["data"]
        if isinstance(config, str):
            path = path.parent / config
            config = _yaml(path)
    if not isinstance(config, dict) or not isinstance(config.get("class_path"), str):
        raise TextclfError(
            f"--data {path}: expected a data config (class_path: textclf.IMDB, init_args: ...), as a recipe's data "
            "section, or a recipe with one"
        )
    name = config["class_path"]
    if not _is_data_module(name):
        raise TextclfError(
            f"--data {path}: class_path {name} is not one of textclf's data modules (e.g. textclf.IMDB, "
            "textclf.FileDataModule); textclf vectors train imports nothing else"
        )
    return config


def _is_data_module(name: str) -> bool:
    """Whether ``name`` is a data module of textclf, found by attribute from ``textclf`` (nothing is imported)."""
    parts = name.split(".")
    if parts[0] != "textclf" or len(parts) < 2 or any(not part.isidentifier() for part in parts):
        return False
    import textclf
    import textclf.data.corpora
    import textclf.data.files  # with the corpora: every data module's module is an attribute of its package
    from textclf.data.base import TextDataModule

    value: Any = textclf
    for part in parts[1:]:
        value = getattr(value, part, None)
    return isinstance(value, type) and issubclass(value, TextDataModule)


def _yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise TextclfError(f"--data {path}: cannot read it ({e.strerror or e})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise TextclfError(f"--data {path}: not a YAML file ({' '.join(str(e).split())})") from None


def data_module(path: Path) -> Any:
    """The :class:`~textclf.data.base.TextDataModule` of a data config file, without its vectors (nothing read yet).

    Raises:
        TextclfError: as :func:`load_data_config`, or the config does not fit the class (one line).
    """
    config = load_data_config(path)
    init = config.get("init_args")
    if isinstance(init, dict) and "vectors" in init:  # the texts do not depend on them: their sidecar is not read
        config = {**config, "init_args": {**init, "vectors": None}}
    from jsonargparse import ArgumentParser

    from textclf.data.base import TextDataModule

    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(TextDataModule, "data", required=True)
    try:
        return parser.instantiate(parser.parse_object({"data": config})).data
    except TextclfError:
        raise
    except Exception as e:
        raise TextclfError(f"--data {path}: {' '.join(str(e).split())}") from None


def data_source(data: Any, split: str, config: str, scratch: Path | None = None) -> Source:
    """The training or unlabelled texts of a data module (read when the source is).

    ``train`` is the split ``textclf fit`` trains on (see the module's docstring); ``scratch``: a folder where a
    large table's texts may stay on disk while they are read (the caller removes it).

    Raises:
        TextclfError: an unknown split, or ``unlabelled`` for a corpus without unlabelled text (naming those with);
            while read: what reading the corpus and holding out its splits raise, naming ``--data``.
    """
    name = type(data).__name__
    about = {"data": str(Path(config).resolve()), "class": f"{type(data).__module__}.{type(data).__qualname__}",
             "split": split}  # fmt: skip
    if split == "train":
        return Source(about, lambda: _training_texts(data, config, scratch))
    if split != "unlabelled":
        raise TextclfError(f"--split {split}: expected one of {', '.join(SPLITS)}")
    if not callable(getattr(data, "unlabelled_texts", None)):
        import textclf.data.corpora as corpora

        having = [c for c in corpora.__all__ if callable(getattr(getattr(corpora, c), "unlabelled_texts", None))]
        raise TextclfError(
            f"--split unlabelled: {name} has no unlabelled text (corpora with some: {', '.join(having)}); "
            "use --split train"
        )
    return Source(about, data.unlabelled_texts)


def _training_texts(data: Any, config: str, scratch: Path | None) -> Iterable[str]:
    """The training split as ``textclf fit`` trains on it: as ``TextDataModule._build_cache`` carves it."""
    from textclf.data.splits import carve_missing_splits, clean_split

    data.scratch_dir = scratch
    try:
        splits = {name: clean_split(split) for name, split in data.read_splits().items()}
        train = carve_missing_splits(splits, data.val_fraction, data.test_fraction, data.seed, data.fold,
                                     data.num_folds)["train"]  # fmt: skip
    except TextclfError as e:
        raise TextclfError(
            f"--data {config} --split train (read with the corpus's other splits, to hold them out as textclf fit "
            f"does): {e}"
        ) from None
    finally:
        data.scratch_dir = None
    return cast(Iterable[str], train.texts)
