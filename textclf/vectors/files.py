"""Vectors files: find them (paths, gensim-data names), sniff their format, load them with gensim."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from textclf.errors import TextclfError

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

logger = logging.getLogger(__name__)

VectorsFormat = Literal["word2vec-binary", "word2vec-text", "glove-text", "keyedvectors", "fasttext-binary"]
VECTORS_FORMATS: tuple[VectorsFormat, ...] = get_args(VectorsFormat)
FASTTEXT_MAGIC = 793712314  # int32 little-endian at offset 0 of a fastText .bin model
_HEAD_BYTES = 1 << 18  # how much (decompressed) data detect_vectors_format looks at

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
                logger.info("using %s for %s", directory / candidate, name)
                return directory / candidate
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
        return raw, False
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, _HEAD_BYTES), True
    except zlib.error as e:
        raise TextclfError(f"vectors file {path} looks gzip-compressed but cannot be decompressed: {e}") from e


def _is_vector_line(line: bytes, dim: int | None = None) -> bool:
    """Whether `line` is text of a word followed by `dim` (any number >= 1 when None) floats."""
    try:
        text = line.decode("utf-8")
        tokens = text.split()
        [float(t) for t in tokens[1:]]
    except ValueError:  # UnicodeDecodeError is a ValueError
        return False
    text_only = not any(c < " " and c not in "\t\r" for c in text)
    return text_only and len(tokens) >= 2 and (dim is None or len(tokens) == dim + 1)


def _sniff(head: bytes) -> VectorsFormat | None:
    if len(head) >= 4 and int.from_bytes(head[:4], "little") == FASTTEXT_MAGIC:
        return "fasttext-binary"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):  # a pickle: KeyedVectors.save
        return "keyedvectors"
    lines = head.split(b"\n", 2)
    header = lines[0].split()
    if len(header) == 2 and all(t.isdigit() and t.isascii() for t in header) and int(header[1]) > 0:
        if len(lines) == 1 or not lines[1].strip() or _is_vector_line(lines[1], int(header[1])):
            return "word2vec-text"
        return "word2vec-binary"
    return "glove-text" if _is_vector_line(lines[0]) else None


def detect_vectors_format(path: str | os.PathLike[str]) -> VectorsFormat:
    """Sniff the format of a vectors file from its bytes (gzip is looked through), never from its name.

    Args:
        path: The vectors file.

    Returns:
        One of :data:`VECTORS_FORMATS`.
    """
    head, _ = _read_head(Path(path))
    fmt = _sniff(head)
    if fmt is None:
        raise TextclfError(
            f"unrecognised vectors file {path}: expected one of {', '.join(VECTORS_FORMATS)} (gzip allowed)"
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
    """Load a vectors file with gensim.

    Args:
        path: The vectors file.
        fmt: Its format; sniffed with :func:`detect_vectors_format` when None.

    Returns:
        The gensim KeyedVectors (FastTextKeyedVectors for a fastText binary model).
    """
    path = Path(path)
    fmt = fmt or detect_vectors_format(path)
    if fmt not in VECTORS_FORMATS:
        raise TextclfError(f"unknown vectors format {fmt!r} for {path}: expected one of {', '.join(VECTORS_FORMATS)}")
    from gensim.models import KeyedVectors
    from gensim.models.fasttext import load_facebook_vectors

    start = time.perf_counter()
    try:
        with _name_for_gensim(path, _read_head(path)[1] and fmt != "keyedvectors") as name:
            if fmt == "keyedvectors":
                kv = KeyedVectors.load(name)
            elif fmt == "fasttext-binary":
                kv = load_facebook_vectors(name)
            else:
                binary, no_header = fmt == "word2vec-binary", fmt == "glove-text"
                kv = KeyedVectors.load_word2vec_format(
                    name, binary=binary, no_header=no_header, unicode_errors="replace"
                )
    except (TextclfError, MemoryError):
        raise
    except Exception as e:
        reason = " ".join(f"{type(e).__name__}: {e}".split())
        raise TextclfError(f"cannot load {fmt} vectors from {path}: {reason}") from e
    if len(kv.index_to_key) == 0:
        raise TextclfError(f"vectors file {path} holds no vectors")
    seconds, words = time.perf_counter() - start, len(kv.index_to_key)
    logger.info("loaded %s vectors from %s: %d words x %d dims in %.1fs", fmt, path, words, kv.vector_size, seconds)
    return kv
