"""The ``.json`` sidecar that ``textclf vectors train`` writes beside a vectors file, read as data (JSON only).

It records how the file was made (settings, sources, tokenizer, counts, timings) and, for vectors trained with
``--phrases``, the joined word pairs (``new_york``) the vectors hold: the classifier's tokenizer must join the same
pairs to look those vectors up (:class:`~textclf.tokenize.Tokenizer`, ``phrases``).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path

from textclf.errors import TextclfError
from textclf.tokenize import Tokenizer
from textclf.vectors.files import GENSIM_DATA_VECTORS, resolve_vectors
from textclf.wording import counted

log = logging.getLogger(__name__)

MAX_SIDECAR_BYTES = 256 * 2**20
"""A sidecar larger than this is refused (a few MB hold a million phrases)."""


def sidecar_path(vectors: Path) -> Path:
    """``VECTORS.json``: the sidecar of the vectors file ``vectors``."""
    return vectors.with_name(vectors.name + ".json")


def sidecar_phrases(source: str | os.PathLike[str]) -> tuple[str, ...]:
    """The phrases the vectors ``source`` were trained with: its sidecar's ``phrases`` list, in the file's order.

    Empty for a gensim-data name, a file without a sidecar, a sidecar without phrases, and a source that cannot be
    found (loading the vectors reports that, with the places searched).

    Raises:
        TextclfError: the sidecar cannot be read, is larger than :data:`MAX_SIDECAR_BYTES`, is not a JSON object,
            or its ``phrases`` is not a list of joined word pairs; the message names the sidecar.
    """
    if os.fspath(source) in GENSIM_DATA_VECTORS:
        return ()
    try:
        side = sidecar_path(resolve_vectors(source))
    except TextclfError:
        return ()
    if not side.is_file():
        return ()
    try:
        if side.stat().st_size > MAX_SIDECAR_BYTES:
            raise TextclfError(f"{side}: larger than {MAX_SIDECAR_BYTES // 2**20} MiB, not a vectors sidecar")
        about = json.loads(side.read_bytes())
    except OSError as e:
        raise TextclfError(f"cannot read {side}: {e.strerror or e}") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise TextclfError(f"{side}: not a JSON vectors sidecar ({e})") from None
    if not isinstance(about, dict):
        raise TextclfError(f"{side}: not a JSON vectors sidecar (a {type(about).__name__}, not an object)")
    try:
        return Tokenizer.from_dict({"phrases": about.get("phrases", [])}).phrases
    except (TypeError, ValueError) as e:
        raise TextclfError(f"{side}: phrases: {e}") from None


def with_phrases_of(vectors: str | os.PathLike[str], tokenizer: Tokenizer) -> Tokenizer:
    """``tokenizer`` joining the phrases ``vectors`` were trained with (:func:`sidecar_phrases`), if there are any.

    Raises:
        TextclfError: as :func:`sidecar_phrases`.
    """
    phrases = sidecar_phrases(vectors)
    if not phrases:
        return tokenizer
    log.info("tokenizer: joins the %s %s was trained with (e.g. %s)", counted(len(phrases), "phrase"), vectors,
             ", ".join(phrases[:3]))  # fmt: skip
    return replace(tokenizer, phrases=phrases)
