"""The text ``textclf vectors train`` learns from, tokenised once into a file of tokens.

A source is a text file (one text per line, UTF-8, gzip allowed) or a corpus given by a data config (what a recipe
has under ``data``: ``class_path: textclf.IMDB`` and its ``init_args``): its training split (as the corpus gives
it, before any validation is held out; never its test split) or its unlabelled text (IMDB's 50,000 ``unsup``
reviews). Every text is tokenised with the classifier's :class:`~textclf.tokenize.Tokenizer` (all tokens kept: no
``max_length``) and written as one line of tokens separated by spaces, gensim's ``LineSentence`` format: tokens
never hold whitespace, so splitting the line gives them back. Training then reads tokens, not text, at every epoch.
"""

from __future__ import annotations

import gzip
import logging
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from textclf.data.lines import iter_text_lines
from textclf.errors import TextclfError
from textclf.tokenize import Tokenizer
from textclf.wording import counted

log = logging.getLogger(__name__)

SPLITS = ("train", "unlabelled")
"""What ``--split`` reads of a corpus: its training texts, or its unlabelled texts (``unlabelled_texts()``)."""
MAX_SENTENCE = 10000  # gensim trains on at most this many words of a sentence: longer texts go in pieces


@dataclass
class Source:
    """Texts to learn from: what they are (for the log and the sidecar JSON) and how to read them."""

    about: dict[str, Any]
    texts: Callable[[], Iterable[str]]


@dataclass
class TokenFile:
    """A tokenised corpus: one text per line, its tokens separated by spaces."""

    path: Path
    texts: int = 0
    tokens: int = 0
    sources: list[dict[str, Any]] = field(default_factory=list)


def file_source(path: Path) -> Source:
    """The lines of a UTF-8 text file (gzip-compressed or not: told by its bytes), one text each.

    Raises (while read):
        TextclfError: the file is missing or unreadable, or a line is not valid UTF-8 or holds a NUL byte (naming
            the file and the line).
    """
    if not path.is_file():
        raise TextclfError(f"--input {path}: no such file" + (" (a folder)" if path.is_dir() else ""))
    return Source({"input": str(path)}, lambda: _file_texts(path))


def _file_texts(path: Path) -> Iterator[str]:
    with path.open("rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    if not gzipped:
        for line in iter_text_lines(path, "utf-8"):
            if line.text is None:
                raise TextclfError(str(line.error))
            yield line.text
        return
    number = 0
    try:
        with gzip.open(path, "rb") as stream:
            for number, raw in enumerate(stream, start=1):
                data = raw.removesuffix(b"\n").removesuffix(b"\r")
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise TextclfError(
                        f"{path}, line {number}: byte {e.start} of the line is not valid UTF-8"
                    ) from None
                if "\x00" in text:
                    raise TextclfError(f"{path}, line {number}: holds a NUL byte")
                yield text.removeprefix("\ufeff") if number == 1 else text
    except (OSError, EOFError, zlib.error) as e:
        raise TextclfError(f"{path}: the gzip stream breaks after line {number} ({e})") from None


def load_data_config(path: Path) -> dict[str, Any]:
    """The data config in a YAML file: ``class_path``/``init_args`` at the top, or a recipe's ``data`` section.

    A recipe's ``data: data.yaml`` is read relative to the recipe. Only a class of textclf itself may be named
    (``textclf.IMDB``, ``textclf.FileDataModule``): nothing the file names outside textclf is imported.

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
    if not name.startswith("textclf.") or any(not part.isidentifier() for part in name.split(".")):
        raise TextclfError(
            f"--data {path}: class_path {name} is not one of textclf's data modules (e.g. textclf.IMDB, "
            "textclf.FileDataModule); textclf vectors train imports nothing else"
        )
    return config


def _yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise TextclfError(f"--data {path}: cannot read it ({e.strerror or e})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise TextclfError(f"--data {path}: not a YAML file ({' '.join(str(e).split())})") from None


def data_module(path: Path) -> Any:
    """The :class:`~textclf.data.base.TextDataModule` of a data config file (nothing read or prepared yet).

    Raises:
        TextclfError: as :func:`load_data_config`, or the config does not fit the class (one line).
    """
    config = load_data_config(path)
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


def data_source(data: Any, split: str, config: str | None) -> Source:
    """The training or unlabelled texts of a data module (read when the source is).

    Raises:
        TextclfError: an unknown split, or ``unlabelled`` for a corpus without unlabelled text (naming those with).
    """
    name = type(data).__name__
    about = {"data": config, "class": f"{type(data).__module__}.{type(data).__qualname__}", "split": split}
    if split == "train":
        return Source(about, lambda: data.read_splits()["train"].texts)
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


def write_tokens(
    sources: list[Source], tokenizer: Tokenizer, path: Path, every: float = 10.0, max_texts: int | None = None
) -> TokenFile:
    """Tokenise every text of ``sources`` into ``path``: one line per text with tokens, empty texts left out.

    Logs a line every ``every`` seconds while it runs, and one per source at its end. With ``max_texts``, only the
    first ``max_texts`` texts with tokens are kept (in source order), for a quick trial.
    """
    result = TokenFile(path)
    start = last = time.monotonic()
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for source in sources:
            texts = tokens = 0
            for text in source.texts():
                if max_texts is not None and result.texts + texts >= max_texts:
                    break
                words = tokenizer(text)
                for piece in range(0, len(words), MAX_SENTENCE):
                    out.write(" ".join(words[piece : piece + MAX_SENTENCE]) + "\n")
                texts, tokens = texts + bool(words), tokens + len(words)
                if time.monotonic() - last >= every:
                    last = time.monotonic()
                    log.info("tokenising: %s, %s so far", counted(result.texts + texts, "text"),
                             counted(result.tokens + tokens, "token"))  # fmt: skip
            result.sources.append({**source.about, "texts": texts, "tokens": tokens})
            result.texts, result.tokens = result.texts + texts, result.tokens + tokens
            log.info("%s: %s, %s", _described(source.about), counted(texts, "text"), counted(tokens, "token"))
    log.info("tokenised %s in %.1fs (%s tokenizer)", counted(result.texts, "text"), time.monotonic() - start,
             tokenizer.mode)  # fmt: skip
    return result


def _described(about: dict[str, Any]) -> str:
    if "input" in about:
        return str(about["input"])
    return f"{about['class'].rsplit('.', 1)[-1]} {about['split']} texts"


def join_phrases(corpus: TokenFile, path: Path, min_count: int, threshold: float) -> TokenFile:
    """``corpus`` rewritten into ``path`` with frequent word pairs joined by ``_`` (gensim ``Phrases``).

    Bigrams seen at least ``min_count`` times whose score (Mikolov et al. 2013) exceeds ``threshold`` become one
    token, such as ``new_york``.
    """
    from gensim.models.phrases import Phrases

    start = time.monotonic()
    phrases = Phrases(TokenLines(corpus.path), min_count=min_count, threshold=threshold, delimiter="_").freeze()
    joined = TokenFile(path, corpus.texts, 0, corpus.sources)
    kinds: set[str] = set()
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for words in TokenLines(corpus.path):
            tokens = phrases[words]
            if len(tokens) < len(words):  # some pairs were joined
                kinds.update(set(tokens).difference(words))
            joined.tokens += len(tokens)
            out.write(" ".join(tokens) + "\n")
    log.info("phrases: %s joined (e.g. %s) in %.1fs; %s", counted(len(kinds), "phrase"),
             ", ".join(sorted(kinds)[:3]) or "none", time.monotonic() - start,
             counted(joined.tokens, "token"))  # fmt: skip
    return joined


class TokenLines:
    """The token lists of a token file, read again at each iteration (gensim iterates its corpus several times)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[list[str]]:
        with self.path.open(encoding="utf-8", newline="\n") as handle:
            for line in handle:
                yield line.split()
