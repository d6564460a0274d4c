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
from typing import Any

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
        TextclfError: as :func:`read_sidecar`; ``phrases`` is not a list of joined word pairs.
    """
    return _phrases(*read_sidecar(source))


def _phrases(side: Path | None, about: dict[str, Any]) -> tuple[str, ...]:
    try:
        return Tokenizer.from_dict({"phrases": about.get("phrases", [])}).phrases
    except (TypeError, ValueError) as e:
        raise TextclfError(f"{side}: phrases: {e}") from None


def read_sidecar(source: str | os.PathLike[str]) -> tuple[Path | None, dict[str, Any]]:
    """The sidecar of the vectors ``source`` and its content, ``(None, {})`` when it has none.

    The sidecar is looked for beside the path given, then beside the file a symbolic link points to.

    Raises:
        TextclfError: the sidecar is not a regular file, cannot be read, is larger than :data:`MAX_SIDECAR_BYTES`,
            or is not a JSON object; the message names it.
    """
    if os.fspath(source) in GENSIM_DATA_VECTORS:
        return None, {}
    try:
        path = resolve_vectors(source)
    except TextclfError:
        return None, {}
    side = next((s for s in (sidecar_path(path), sidecar_path(path.resolve())) if os.path.lexists(s)), None)
    if side is None:
        return None, {}
    try:
        if not side.is_file():
            raise TextclfError(f"{side}: not a regular file, so not a vectors sidecar (move it away)")
        if side.stat().st_size > MAX_SIDECAR_BYTES:
            raise TextclfError(f"{side}: larger than {MAX_SIDECAR_BYTES // 2**20} MiB, not a vectors sidecar")
        about = json.loads(side.read_bytes())
    except OSError as e:
        raise TextclfError(f"cannot read {side}: {e.strerror or e}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        reason = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise TextclfError(f"{side}: not a JSON vectors sidecar ({reason})") from None
    if not isinstance(about, dict):
        raise TextclfError(f"{side}: not a JSON vectors sidecar (a {type(about).__name__}, not an object)")
    return side, about


def with_phrases_of(vectors: str | os.PathLike[str], tokenizer: Tokenizer, fixed: bool = False) -> Tokenizer:
    """``tokenizer`` joining the phrases ``vectors`` were trained with (:func:`sidecar_phrases`), if there are any.

    With ``fixed`` (the tokenizer of a checkpoint being fine-tuned, which its vocabulary needs), ``tokenizer`` is kept
    as it is, with a warning when the vectors' phrases differ from its own. A warning also says when the vectors were
    tokenised in another mode (``cased`` against ``basic``): their phrases may then never match.

    Raises:
        TextclfError: as :func:`sidecar_phrases`.
    """
    side, about = read_sidecar(vectors)
    phrases = _phrases(side, about)
    if not phrases or phrases == tokenizer.phrases:
        return tokenizer
    if fixed:
        log.warning("%s was trained with %s that the checkpoint's tokenizer does not join: they are not joined",
                    vectors, counted(len(phrases), "phrase"))  # fmt: skip
        return tokenizer
    settings = about.get("tokenizer")
    mode = settings.get("mode", tokenizer.mode) if isinstance(settings, dict) else tokenizer.mode
    if mode in ("basic", "cased", "whitespace") and mode != tokenizer.mode:
        log.warning("%s was tokenised in %s mode, this data in %s mode: its phrases (e.g. %s) may not match",
                    vectors, mode, tokenizer.mode, phrases[0])  # fmt: skip
    log.info("tokenizer: joins the %s %s was trained with (e.g. %s)", counted(len(phrases), "phrase"), vectors,
             ", ".join(phrases[:3]))  # fmt: skip
    return replace(tokenizer, phrases=phrases)
