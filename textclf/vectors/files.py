"""Vectors files: find them (paths, gensim-data names), sniff their format, load them safely (never unpickled)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from textclf.errors import TextclfError
from textclf.vectors.binary import read_word2vec_binary
from textclf.vectors.fasttext import check_fasttext_vocabulary
from textclf.vectors.parse import NUMBER, ParsedVectors, ProgressHook, file_head
from textclf.vectors.subwords import SubwordVectors, fasttext_subwords
from textclf.vectors.text import read_text_vectors

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

logger = logging.getLogger(__name__)
_ANNOUNCED: set[tuple[str, Path]] = set()  # (name, file) pairs already said

VectorsFormat = Literal["word2vec-binary", "word2vec-text", "glove-text", "keyedvectors", "fasttext-binary"]
VECTORS_FORMATS: tuple[VectorsFormat, ...] = get_args(VectorsFormat)
FASTTEXT_MAGIC = 793712314  # int32 little-endian at offset 0 of a fastText .bin model
_HEAD_BYTES = 1 << 18  # how much (decompressed) data detect_vectors_format looks at
_SNIFF_LINES = 5  # a header followed by this many text lines of a word and numbers is word2vec text
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x0c\x0e-\x1f\x7f]")
_NUMBER_OR_SPECIAL = re.compile(NUMBER.pattern + rb"|(?i:[-+]?(?:nan|inf|infinity))")

# gensim-data model name -> file names of the original release (each also tried with ".gz").
GENSIM_DATA_VECTORS: dict[str, tuple[str, ...]] = {
    "word2vec-google-news-300": ("GoogleNews-vectors-negative300.bin",),
    "fasttext-wiki-news-subwords-300": ("wiki-news-300d-1M-subword.vec",),
    "conceptnet-numberbatch-17-06-300": ("numberbatch-17.06.txt",),
    "word2vec-ruscorpora-300": (),
    **{f"glove-wiki-gigaword-{d}": (f"glove.6B.{d}d.txt",) for d in (50, 100, 200, 300)},
    **{f"glove-twitter-{d}": (f"glove.twitter.27B.{d}d.txt",) for d in (25, 50, 100, 200)},
}


def resolve_vectors(source: str | os.PathLike[str], search_dirs: Sequence[str | os.PathLike[str]] = ()) -> Path:
    """Turn a vectors path or gensim-data name into the path of a local file.

    Args:
        source: A path, or a gensim-data name such as ``glove-wiki-gigaword-50``. A relative path that does not
            exist is also looked up in the search directories.
        search_dirs: Directories searched first; then ``$TEXTCLF_VECTORS`` (``os.pathsep``-separated) and
            gensim-data's own directory (``$GENSIM_DATA_DIR`` or ``~/gensim-data``).

    Returns:
        The path of an existing file. gensim's downloader is called only for a known name found nowhere locally.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        raise TextclfError(f"vectors source {path} is a directory, expected a vectors file")
    if path.exists():
        return path
    name, known = os.fspath(source), os.fspath(source) in GENSIM_DATA_VECTORS
    if not known and path.is_absolute():
        raise TextclfError(f"vectors file not found: {path}")
    env = [d for d in os.environ.get("TEXTCLF_VECTORS", "").split(os.pathsep) if d]
    gensim_data = os.environ.get("GENSIM_DATA_DIR") or "~/gensim-data"
    dirs = [Path(d).expanduser() for d in [*search_dirs, *env, gensim_data]]
    originals = [f + gz for f in GENSIM_DATA_VECTORS.get(name, ()) for gz in ("", ".gz")]
    for directory in dirs:
        for candidate in [f"{name}/{name}.gz", f"{name}.gz", name, *originals] if known else [name]:
            if (directory / candidate).is_file():
                found = directory / candidate
                (logger.debug if (name, found) in _ANNOUNCED else logger.info)("using %s for %s", found, name)
                _ANNOUNCED.add((name, found))  # once per process: the word list and the matrix both look it up
                return found
    searched = ", ".join(str(d) for d in dirs)
    if not known:
        raise TextclfError(f"vectors file not found: {path} (not a gensim-data name; also searched {searched})")
    return _download(name, searched)


def _download(name: str, searched: str) -> Path:
    originals = GENSIM_DATA_VECTORS[name]
    hint = f"{originals[0]}[.gz] or {name}.gz" if originals else f"{name}.gz"
    try:
        import gensim.downloader

        found = Path(gensim.downloader.load(name, return_path=True))
        if not found.is_file():
            raise FileNotFoundError(f"{found} missing after download")
    except Exception as e:
        reason = " ".join(f"{type(e).__name__}: {e}".split())
        raise TextclfError(
            f"{name} not found locally (searched {searched}) and gensim's downloader failed ({reason}); "
            f"set TEXTCLF_VECTORS to a directory holding a local copy ({hint})"
        ) from e
    return found


def _read_head(path: Path) -> tuple[bytes, bool]:
    """Return the first bytes of the (decompressed) file and whether it is gzip-compressed."""
    try:
        with open(path, "rb") as f:
            raw = f.read(_HEAD_BYTES)
    except OSError as e:
        raise TextclfError(f"cannot read vectors file {path}: {e.strerror or e}") from e
    if raw[:2] != b"\x1f\x8b":
        return file_head(raw, path), False
    try:
        return file_head(zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, _HEAD_BYTES), path), True
    except zlib.error as e:
        raise TextclfError(f"vectors file {path} looks gzip-compressed but cannot be decompressed: {e}") from e


def _is_text_line(line: bytes, dim: int = 1) -> bool:
    """Whether ``line`` is text: no control bytes but tab and CR, or else its last ``dim`` fields are numbers."""
    if not _CONTROL.search(line):
        return True
    fields = line.split()
    return len(fields) > dim > 1 and all(_NUMBER_OR_SPECIAL.fullmatch(f) for f in fields[-dim:])


def _is_vector_line(line: bytes, dim: int = 1) -> bool:
    """Whether ``line`` is a text line of a word and then numbers (of which ``dim`` are checked)."""
    fields = line.split()
    return len(fields) >= 2 and _NUMBER_OR_SPECIAL.fullmatch(fields[-1]) is not None and _is_text_line(line, dim)


def _sniff(head: bytes) -> VectorsFormat | None:
    if len(head) >= 4 and int.from_bytes(head[:4], "little") == FASTTEXT_MAGIC:
        return "fasttext-binary"
    if head[:1] == b"\x80":  # the PROTO opcode of a pickle (protocol 2+): gensim's KeyedVectors.save
        return "keyedvectors"
    lines = head.split(b"\n", _SNIFF_LINES + 1)
    cut = len(lines) > _SNIFF_LINES + 1 or len(head) >= _HEAD_BYTES  # then the last piece is no whole line
    complete, leftover = (lines[:-1], lines[-1]) if cut else (lines, b"")
    header = lines[0].split()
    if len(header) == 2 and all(t.isdigit() for t in header) and int(header[1]) > 0:
        body, dim = [line for line in complete[1:] if line.strip()], int(header[1])
        if not body:  # a header alone is text; a first row too long to end within the head is binary
            return "word2vec-binary" if leftover.strip() else "word2vec-text"
        text = all(_is_text_line(line, dim) for line in body) and any(_is_vector_line(line, dim) for line in body)
        return "word2vec-text" if text else "word2vec-binary"
    return "glove-text" if _is_vector_line(lines[0]) else None


def _unsafe_kind(head: bytes) -> str | None:
    """What a file that must never be loaded is (it could run code when loaded), or None."""
    if head[:1] == b"\x80":
        return "a Python pickle (such as gensim's KeyedVectors.save writes)"
    if head[:4] == b"PK\x03\x04":
        return "a zip archive (such as torch.save or numpy.savez write; it may hold pickles)"
    if head[:6] == b"\x93NUMPY":
        return "a numpy .npy array (it holds no words and may hold pickles)"
    return None


def detect_vectors_format(path: str | os.PathLike[str]) -> VectorsFormat:
    """Sniff the format of a vectors file from its bytes (gzip is looked through), never from its name.

    Nothing in the file is executed or unpickled: a pickle is only recognised (``keyedvectors``), and
    :func:`load_keyed_vectors` refuses to load it.

    Args:
        path: The vectors file.

    Returns:
        One of :data:`VECTORS_FORMATS`.

    Raises:
        TextclfError: the file cannot be read, or is in none of the formats (the message says what it is when it
            is a zip archive or a numpy array).
    """
    head, _ = _read_head(Path(path))
    fmt = _sniff(head)
    if fmt is None:
        kind = _unsafe_kind(head)
        raise TextclfError(
            f"unrecognised vectors file {path}{f' ({kind})' if kind else ''}: "
            f"expected one of {', '.join(VECTORS_FORMATS)} (gzip allowed)"
        )
    return fmt


@contextlib.contextmanager
def _name_for_gensim(path: Path, gzipped: bool) -> Iterator[str]:
    """Yield a name whose extension tells gensim (smart_open) the true compression, via a temporary symlink."""
    if gzipped == (path.suffix.lower() == ".gz"):
        yield str(path)
        return
    with tempfile.TemporaryDirectory(prefix="textclf-vectors-") as tmp:
        link = Path(tmp) / (path.name + (".gz" if gzipped else ".raw"))
        try:
            link.symlink_to(path.resolve())
        except OSError:
            link = path
        yield str(link)


def load_keyed_vectors(path: str | os.PathLike[str], fmt: VectorsFormat | None = None) -> KeyedVectors:
    """Load a vectors file: word2vec/GloVe formats with textclf's strict readers, fastText models with gensim.

    No file is ever unpickled: gensim ``.kv`` files (pickles), zip archives and numpy arrays are refused.

    Args:
        path: The vectors file.
        fmt: Its format; sniffed with :func:`detect_vectors_format` when None.

    Returns:
        A gensim KeyedVectors with unique words (``index_to_key``, ``key_to_index``) and float32 ``vectors`` of
        shape ``(words, dim)``; a FastTextKeyedVectors for a fastText binary model.

    Raises:
        TextclfError: the file is unsafe to load, not in the format, or malformed (the message names the file and
            the line or byte offset; see docs/vectors.md, "Anomalies").
    """
    path = Path(path)
    start = time.perf_counter()
    fmt, gzipped, sniffed = _checked_format(path, fmt)
    if fmt == "fasttext-binary":
        kv = _load_fasttext(path, gzipped, sniffed)
        if len(kv.index_to_key) == 0:
            raise TextclfError(f"vectors file {path} holds no vectors")
    else:
        kv = _keyed_vectors(_read_strict(path, fmt, gzipped, None))
    seconds, words = time.perf_counter() - start, len(kv.index_to_key)
    logger.info("loaded %s vectors from %s: %d words x %d dims in %.1fs", fmt, path, words, kv.vector_size, seconds)
    return kv


def read_vectors(
    path: str | os.PathLike[str], fmt: VectorsFormat | None = None, progress: ProgressHook | None = None
) -> tuple[ParsedVectors, VectorsFormat]:
    """The words and float32 matrix of a vectors file, with the same checks as :func:`load_keyed_vectors`.

    gensim is imported only for a fastText model, whose own vocabulary words and their (full-word) vectors are
    returned, as :func:`load_keyed_vectors`'s ``index_to_key`` and ``vectors``, in a
    :class:`~textclf.vectors.subwords.SubwordVectors` that also holds its n-gram matrix (None without subwords).

    Args:
        path: The vectors file.
        fmt: Its format; sniffed with :func:`detect_vectors_format` when None.
        progress: Passed to the word2vec/GloVe readers (not called for fastText models).

    Returns:
        The unique words in file order with their ``(words, dim)`` float32 vectors, and the file's format.

    Raises:
        TextclfError: as :func:`load_keyed_vectors`; or a fastText model's word or n-gram vectors hold a nan or
            an infinity.
    """
    path = Path(path)
    fmt, gzipped, sniffed = _checked_format(path, fmt)
    if fmt != "fasttext-binary":
        return _read_strict(path, fmt, gzipped, progress), fmt
    kv = _load_fasttext(path, gzipped, sniffed)
    if len(kv.index_to_key) == 0:
        raise TextclfError(f"vectors file {path} holds no vectors")
    subwords = fasttext_subwords(kv, path)
    return SubwordVectors(list(kv.index_to_key), np.ascontiguousarray(kv.vectors, dtype=np.float32), subwords), fmt


def _checked_format(path: Path, fmt: VectorsFormat | None) -> tuple[VectorsFormat, bool, VectorsFormat | None]:
    """The format to read ``path`` in, whether it is gzipped, and the sniffed format; refuses unsafe files."""
    head, gzipped = _read_head(path)
    sniffed = _sniff(head)
    unsafe = _unsafe_kind(head)
    if unsafe or "keyedvectors" in (fmt, sniffed):
        raise TextclfError(_refusal(path, unsafe or "a Python pickle (gensim's KeyedVectors.save)"))
    if fmt is not None and fmt not in VECTORS_FORMATS:
        raise TextclfError(f"unknown vectors format {fmt!r} for {path}: expected one of {', '.join(VECTORS_FORMATS)}")
    return fmt or detect_vectors_format(path), gzipped, sniffed


def _read_strict(path: Path, fmt: VectorsFormat, gzipped: bool, progress: ProgressHook | None) -> ParsedVectors:
    """A word2vec/GloVe file through textclf's own readers."""
    if fmt == "word2vec-binary":
        parsed = read_word2vec_binary(path, gzipped, progress)
    else:
        parsed = read_text_vectors(path, gzipped, header=fmt == "word2vec-text", progress=progress)
    if not parsed.words:
        raise TextclfError(f"vectors file {path} holds no vectors")
    return parsed


def _refusal(path: Path, kind: str) -> str:
    message = f"refusing to load vectors file {path}: it is {kind}, and loading it could run any code it holds"
    if "pickle" not in kind:
        return message
    out = f"{path.stem}.bin" if path.suffix != ".bin" else f"{path.stem}.word2vec.bin"
    return (
        f"{message}; if it is a gensim .kv file and you trust it, convert it to word2vec binary (a format textclf "
        f'reads) with python -c "from gensim.models import KeyedVectors as K; '
        f"K.load('{path.name}').save_word2vec_format('{out}', binary=True)\""
    )


def _keyed_vectors(parsed: ParsedVectors) -> KeyedVectors:
    from gensim.models import KeyedVectors

    kv = KeyedVectors(parsed.vectors.shape[1], count=0, dtype=np.float32)
    kv.index_to_key = parsed.words
    kv.key_to_index = {word: i for i, word in enumerate(parsed.words)}
    kv.vectors = parsed.vectors
    return kv


def _load_fasttext(path: Path, gzipped: bool, sniffed: VectorsFormat | None) -> KeyedVectors:
    """A fastText binary model through gensim's reader (struct and numpy.fromfile: it never unpickles)."""
    if sniffed != "fasttext-binary":
        raise TextclfError(f"vectors file {path} is not a fastText binary model (no magic number {FASTTEXT_MAGIC})")
    from gensim.models.fasttext import load_facebook_vectors

    check_fasttext_vocabulary(path, gzipped)  # gensim would loop for ever on a file that ends inside a word
    try:
        with _name_for_gensim(path, gzipped) as name:
            return load_facebook_vectors(name)
    except (TextclfError, MemoryError):
        raise
    except Exception as e:
        reason = " ".join(f"{type(e).__name__}: {e}".split())
        raise TextclfError(f"cannot load fasttext-binary vectors from {path}: {reason}") from e
