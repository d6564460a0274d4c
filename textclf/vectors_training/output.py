"""Where ``textclf vectors train`` writes: ``OUT`` and ``OUT.json``, checked before any work, replaced together.

Before tokenising, :func:`check_output` refuses an ``OUT`` that cannot be (or must not be) written, and
:func:`prepare_folder` creates ``OUT``'s folder and writes and removes a probe file under the exact temporary names
the outputs will be staged under (``.part-PID-NAME``), so that a read-only folder or a name too long is found in
seconds, not after training. :func:`write_outputs` writes both files to those temporary names, reads the vectors
back with textclf's readers, and only then renames them over ``OUT`` and ``OUT.json``; the temporary files are
removed whatever happens (an error, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from textclf.errors import TextclfError
from textclf.vectors.sidecar import sidecar_path
from textclf.vectors_training.interrupt import deferred

NAME_MAX = 255  # bytes in a file name on Linux's file systems (ext4, xfs, btrfs, tmpfs)


def staging_path(path: Path) -> Path:
    """The temporary file ``path`` is written to before it is renamed into place (the suffix stays)."""
    return path.with_name(f".part-{os.getpid()}-{path.name}")


def check_output(output: str | os.PathLike[str], model: str, force: bool) -> Path:
    """``output`` as a path, once it is known that ``OUT`` and ``OUT.json`` may be written.

    A symlink to a regular file is replaced by the new file (its target is left as it is).

    Raises:
        TextclfError: ``output`` ends in a path separator or is a folder; ``OUT`` or ``OUT.json`` exists and is not
            a regular file (a device such as /dev/null, a FIFO, a folder), whatever ``force``; exists without
            ``force``; ``OUT`` ends in ``.gz`` for fastText (Facebook's format is not compressed); a name the system
            refuses (too long).
    """
    text = os.fspath(output)
    if text.endswith(("/", os.sep)) or (os.altsep and text.endswith(os.altsep)):
        raise TextclfError(f"{text} ends in a path separator: give the path of the vectors file to write in it")
    out = Path(text)
    if model == "fasttext" and out.suffix.lower() == ".gz":
        raise TextclfError(
            f"{out}: Facebook's fastText .bin format is not compressed: drop .gz (the file is written as it is)"
        )
    for path in (out, sidecar_path(out)):
        mode = _mode(path, out)
        if mode is None:
            continue
        if stat.S_ISDIR(mode):
            raise TextclfError(f"{path} is a folder: give the path of the vectors file to write")
        if not stat.S_ISREG(mode):
            raise TextclfError(f"{path} exists and is not a regular file (a device, FIFO or socket): it is never "
                               "replaced, --force or not; give another path")  # fmt: skip
        if not force:
            raise TextclfError(f"{path} already exists: pass --force (force=True) to replace it")
    return out


def _mode(path: Path, out: Path) -> int | None:
    """``path``'s file mode (a symlink's target's), None when nothing is there."""
    try:
        return path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            raise TextclfError(_too_long(out)) from None
        raise TextclfError(f"cannot use {path}: {e.strerror or e}") from None


def _too_long(out: Path) -> str:
    longest = len(os.fsencode(staging_path(sidecar_path(out)).name))
    return (
        f"the name of {out.parent / (out.name[:40] + '...')} is too long ({len(os.fsencode(out.name))} bytes; "
        f"{longest} with .json and the temporary name beside it, at most {NAME_MAX}): give a shorter one"
    )


def prepare_folder(out: Path) -> list[Path]:
    """Create ``out``'s folder (and those above it) and check that both outputs can be staged in it.

    A probe file is created and removed under each temporary name (:func:`staging_path`) of ``OUT`` and ``OUT.json``.

    Returns:
        The folders created, deepest first (for :func:`remove_folders` when the run fails).

    Raises:
        TextclfError: a folder cannot be created, or a probe cannot be written (a read-only folder, a full disk, a
            name too long): ``cannot write in FOLDER: reason`` (nothing is left behind).
    """
    folder = out.parent
    created: list[Path] = []
    try:
        created = [path for path in (folder, *folder.parents) if not path.exists()]
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        remove_folders(created)
        raise TextclfError(f"cannot create the folder of {out}: {e.strerror or e}") from None
    for path in (out, sidecar_path(out)):
        probe = staging_path(path)
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
        except OSError as e:
            remove_folders(created)
            why = _too_long(out) if e.errno == errno.ENAMETOOLONG else e.strerror or str(e)
            raise TextclfError(f"cannot write in {folder}: {why}") from None
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()
    return created


def remove_folders(created: list[Path]) -> None:
    """Remove the folders :func:`prepare_folder` created, deepest first, as long as they are empty."""
    with deferred():
        for path in created:
            try:
                path.rmdir()
            except OSError:
                return


def write_outputs(
    out: Path,
    write_vectors: Callable[[Path], None],
    sidecar: Callable[[], dict[str, Any]],
) -> None:
    """Stage ``OUT`` (``write_vectors(staging)``: write and check it) and ``OUT.json``, then rename both into place.

    ``sidecar()`` is called once the vectors are staged (its timings count their writing). The temporary files are
    removed whatever happens.

    Raises:
        TextclfError: a write or rename fails (a full disk, OUT.json turned into a folder): ``cannot write PATH:
            reason``, naming the output; what ``write_vectors`` raises. Neither output is replaced then, except when
            the second rename fails after the first (OUT new, OUT.json as it was).
    """
    side = sidecar_path(out)
    staged, side_staged = staging_path(out), staging_path(side)
    target = out
    try:
        write_vectors(staged)
        target = side
        side_staged.write_text(json.dumps(sidecar(), indent=2, allow_nan=False) + "\n", encoding="utf-8")
        target = out
        os.replace(staged, out)
        target = side
        os.replace(side_staged, side)
    except OSError as e:
        raise TextclfError(f"cannot write {target}: {e.strerror or e}") from None
    finally:
        with deferred():
            for path in (staged, side_staged):
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)


def write_checked(model: Any, kind: str, fmt: str, staging: Path, out: Path, vocab: list[str], dim: int) -> None:
    """Write ``model`` to ``staging`` in ``fmt`` and read it back with textclf's readers.

    Raises:
        TextclfError: the file does not read back as the vocabulary and size trained.
        OSError: it cannot be written.
    """
    from textclf.vectors.files import read_vectors

    if kind == "fasttext":
        from gensim.models.fasttext import save_facebook_model

        save_facebook_model(model, str(staging))
        expected = None
    else:
        model.wv.save_word2vec_format(str(staging), binary=True)  # gzip-compressed for a .gz name
        expected = model.wv.vectors
    parsed, found = read_vectors(staging)
    same = parsed.words == vocab and parsed.vectors.shape[1] == dim and found == fmt
    if not same or (expected is not None and not np.array_equal(parsed.vectors, expected)):
        raise TextclfError(f"{out}: the {found} file written does not read back as the {len(vocab)} vectors trained")
