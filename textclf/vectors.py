"""Pretrained word vectors: find, sniff, load with gensim and align them to a vocabulary (see docs/vectors.md)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal, get_args

import numpy as np

from textclf.distributed import builds_here
from textclf.errors import TextclfError

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

logger = logging.getLogger(__name__)

VectorsFormat = Literal["word2vec-binary", "word2vec-text", "glove-text", "keyedvectors", "fasttext-binary"]
FORMATS: tuple[VectorsFormat, ...] = get_args(VectorsFormat)
CACHE_VERSION = 1
FASTTEXT_MAGIC = 793712314  # int32 little-endian at offset 0 of a fastText .bin model
_HEAD_BYTES = 1 << 18  # how much (decompressed) data detect_format looks at

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


def detect_format(path: str | os.PathLike[str]) -> VectorsFormat:
    """Sniff the format of a vectors file from its bytes (gzip is looked through), never from its name.

    Args:
        path: The vectors file.

    Returns:
        One of :data:`FORMATS`.
    """
    head, _ = _read_head(Path(path))
    fmt = _sniff(head)
    if fmt is None:
        raise TextclfError(f"unrecognised vectors file {path}: expected one of {', '.join(FORMATS)} (gzip allowed)")
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
        fmt: Its format; sniffed with :func:`detect_format` when None.

    Returns:
        The gensim KeyedVectors (FastTextKeyedVectors for a fastText binary model).
    """
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise TextclfError(f"unknown vectors format {fmt!r} for {path}: expected one of {', '.join(FORMATS)}")
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


@dataclass(frozen=True)
class Coverage:
    """How much of a vocabulary (specials excluded) and of its training tokens has a pretrained vector."""

    types_found: int
    types_total: int
    tokens_found: int
    tokens_total: int

    @property
    def type_rate(self) -> float:
        """Fraction (0..1) of vocabulary words that have a vector."""
        return self.types_found / self.types_total if self.types_total else 0.0

    @property
    def token_rate(self) -> float:
        """Fraction (0..1) of training tokens whose word has a vector."""
        return self.tokens_found / self.tokens_total if self.tokens_total else 0.0

    def __str__(self) -> str:
        return (
            f"vectors cover {self.types_found:,}/{self.types_total:,} types ({self.type_rate:.1%}) "
            f"and {self.token_rate:.1%} of {self.tokens_total:,} tokens"
        )


def _cache_path(cache_dir: str | os.PathLike[str], path: Path, *extra: object, payload: str = "") -> Path:
    """``<cache_dir>/vectors/<sha256>``, keyed by the file identity (path, size, mtime) and `extra`/`payload`."""
    stat = path.stat()
    key = hashlib.sha256(
        json.dumps([CACHE_VERSION, str(path.resolve()), stat.st_size, stat.st_mtime_ns, *extra]).encode()
    )
    key.update(payload.encode("utf-8", "surrogateescape"))
    return Path(cache_dir, "vectors", key.hexdigest())


def _atomic_write(target: Path, write: Callable[[IO[bytes]], object]) -> bool:
    """Write via a temporary file in the same directory and os.replace; warn (no raise) when that fails."""
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, target)
        return True
    except OSError as e:
        logger.warning("cannot write vectors cache %s: %s", target, e)
        return False
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def vectors_vocabulary(source: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """The words that have a vector in `source`, in file order (most frequent first in the word2vec/GloVe releases).

    Args:
        source: Vectors path or gensim-data name (see :func:`resolve_vectors`).
        cache_dir: If given, the word list is cached in ``<cache_dir>/vectors/<key>.vocab.txt``.

    Returns:
        The words, exactly as spelled in the file.
    """
    path = resolve_vectors(source)
    target = _cache_path(cache_dir, path, "vocabulary").with_suffix(".vocab.txt") if cache_dir is not None else None
    if target is not None and target.is_file():
        text = target.read_bytes().decode("utf-8", "surrogateescape")
        logger.info("loaded cached vocabulary of %s", path)
        return text.split("\n") if text else []
    words = list(load_keyed_vectors(path).index_to_key)
    if target is not None and not any("\n" in w for w in words):  # one word a line
        _atomic_write(target, lambda f: f.write("\n".join(words).encode("utf-8", "surrogateescape")))
    return words


def _lookup_rows(index: dict[str, int], vocab: Sequence[str]) -> np.ndarray:
    """Row of each vocab word in the vectors (-1 when absent): exact, then lowercase, then capitalized."""
    rows = np.full(len(vocab), -1, dtype=np.int64)
    for i in range(2, len(vocab)):
        word = vocab[i]
        for key in (word, word.lower(), word.capitalize()):
            j = index.get(key)
            if j is not None:
                rows[i] = j
                break
    return rows


def _fill(vectors: np.ndarray, rows: np.ndarray, seed: int) -> np.ndarray:
    """Gather found rows; zero <pad>; draw the rest from U(-a, a), a = sqrt(3) * std of the found values."""
    found = rows >= 0
    matrix = np.zeros((len(rows), vectors.shape[1]), dtype=np.float32)
    matrix[found] = vectors[rows[found]]
    std = float(np.std(matrix[found], dtype=np.float64)) if found.any() else 0.0
    a = math.sqrt(3.0) * std if std > 0 and math.isfinite(std) else 0.25
    missing = ~found
    missing[0] = False
    matrix[missing] = np.random.default_rng(seed).uniform(-a, a, size=(int(missing.sum()), matrix.shape[1]))
    return matrix


def _coverage(found: np.ndarray, token_counts: Sequence[int] | None) -> Coverage:
    """Coverage of the training words: with ``token_counts``, words never seen in training (count 0) are left out."""
    words = found[2:]
    counts = np.ones(len(words), np.int64) if token_counts is None else np.asarray(token_counts, np.int64)[2:]
    seen = counts > 0
    return Coverage(int(words[seen].sum()), int(seen.sum()), int(counts[words].sum()), int(counts.sum()))


def _read_matrix_cache(base: Path, size: int) -> tuple[np.ndarray, np.ndarray] | None:
    npy, meta = base.with_suffix(".npy"), base.with_suffix(".json")
    if not (npy.is_file() and meta.is_file()):
        return None
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
        matrix = np.load(npy, allow_pickle=False)
        found = np.frombuffer(info["found"].encode("ascii"), dtype=np.uint8) == ord("1")
        if matrix.dtype != np.float32 or matrix.shape != (size, info["dim"]) or len(found) != size:
            raise ValueError(f"shape {matrix.shape} does not match the vocabulary")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        logger.warning("ignoring unreadable vectors cache %s: %s", base, e)
        return None
    logger.info("loaded cached matrix %s", npy)
    return matrix, found


def _write_matrix_cache(base: Path, matrix: np.ndarray, found: np.ndarray, path: Path, coverage: Coverage) -> None:
    info = {"source": str(path.resolve()), "dim": matrix.shape[1], "coverage": str(coverage)}
    info["found"] = "".join("1" if f else "0" for f in found)
    if _atomic_write(base.with_suffix(".npy"), lambda f: np.save(f, matrix, allow_pickle=False)):
        _atomic_write(base.with_suffix(".json"), lambda f: f.write(json.dumps(info).encode()))  # last: marks complete


def build_embedding_matrix(
    source: str | os.PathLike[str],
    vocab: Sequence[str],
    *,
    token_counts: Sequence[int] | None = None,
    expected_dim: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, Coverage]:
    """Build the embedding matrix for `vocab` from pretrained vectors.

    Args:
        source: Vectors path or gensim-data name (see :func:`resolve_vectors`).
        vocab: Words by index; index 0 is ``<pad>`` (zero row), index 1 is ``<unk>`` (random row).
        token_counts: Training frequency per vocab index, for the token coverage; None counts each type once.
        expected_dim: If given, the vectors must have this dimension.
        cache_dir: If given, the matrix is cached in ``<cache_dir>/vectors/`` and a hit skips the vectors file.
        seed: Seed of the U(-a, a) draws for ``<unk>`` and words without a vector.

    Returns:
        A float32 matrix of shape ``(len(vocab), dim)`` aligned to `vocab`, and the coverage.
    """
    if len(vocab) < 2:
        raise ValueError("vocab must start with <pad> and <unk>")
    if token_counts is not None and len(token_counts) != len(vocab):
        raise ValueError(f"token_counts has {len(token_counts)} entries but vocab has {len(vocab)}")
    path = resolve_vectors(source)
    base = _cache_path(cache_dir, path, "matrix", seed, payload="\n".join(vocab)) if cache_dir is not None else None
    if base is not None and not base.with_suffix(".json").exists():  # local rank 0 builds it, the others wait
        builds_here(base.with_suffix(".json"), "the vectors matrix cache")
    cached = _read_matrix_cache(base, len(vocab)) if base is not None else None
    if cached is None:
        kv = load_keyed_vectors(path)
        _check_dim(path, kv.vector_size, expected_dim)
        rows = _lookup_rows(kv.key_to_index, vocab)
        matrix, found = _fill(kv.vectors, rows, seed), rows >= 0
    else:
        matrix, found = cached
        _check_dim(path, matrix.shape[1], expected_dim)
    coverage = _coverage(found, token_counts)
    if base is not None and cached is None:
        _write_matrix_cache(base, matrix, found, path, coverage)
    logger.info("%s (%s)", coverage, path)
    if coverage.types_total and coverage.type_rate < 0.5:
        logger.warning("only %.1f%% of the vocabulary has a vector in %s", 100 * coverage.type_rate, path)
    return matrix, coverage


def _check_dim(path: Path, dim: int, expected_dim: int | None) -> None:
    if expected_dim is not None and dim != expected_dim:
        raise TextclfError(
            f"vectors file {path} has dimension {dim} but embedding_dim is {expected_dim}; "
            f"set embedding_dim to {dim} or use {expected_dim}-dimensional vectors"
        )
