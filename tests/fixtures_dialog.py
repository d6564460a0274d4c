"""Tiny corpora in the original distribution formats of the dialog-act corpora (NathanDuran's processing)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from factories import write_file

# (speaker, utterance, basic, general, full): every basic class, a '|' inside an utterance, an empty utterance
MRDA_MEETING = [
    ("fe016", "okay.", "F", "fg", "fg"),
    ("fe016", "so the film was really good.", "S", "s", "s"),
    ("me011", "uh-huh.", "B", "b", "b"),
    ("fe016", "", "S", "s", "s"),
    ("me011", "was the plot | the acting bad?", "Q", "qy", "qy"),
    ("fe016", "and the -", "D", "%", "%"),
    ("me011", "yeah it was a great movie.", "S", "s", "aa"),
]
# (speaker, utterance, tag): a few of the 41 SWBD-DAMSL tags, cased text with punctuation
SWDA_CONVERSATION = [
    ("A", "Okay.", 'fo_o_fw_"_by_bc'),
    ("A", "How did you like the film?", "qw"),
    ("B", "Well, the acting was really good.", "sv"),
    ("A", "Uh-huh.", "b"),
    ("B", "The plot was a bit dull, though.", "sd"),
    ("A", "Yeah.", "aa"),
]


def pipe_lines(rows: list[tuple[str, ...]]) -> str:
    return "".join("|".join(row) + "\n" for row in rows)


def write_mrda(directory: Path) -> Path:
    """``train/ val/ test/`` with meeting files of ``speaker|utterance|basic|general|full`` lines."""
    for split, meetings in (("train", ("Bdb001", "Bed002", "Bed004")), ("val", ("Bed003",)), ("test", ("Bed008",))):
        for meeting in meetings:
            write_file(directory / split / f"{meeting}.txt", pipe_lines(MRDA_MEETING))
    return directory


def write_swda(directory: Path) -> Path:
    """``train/ val/ test/`` with conversation files of ``speaker|utterance|tag`` lines."""
    for split, conversations in (("train", ("2005", "2006", "2008")), ("val", ("2010",)), ("test", ("4325",))):
        for conversation in conversations:
            write_file(directory / split / f"{conversation}.txt", pipe_lines(SWDA_CONVERSATION))
    return directory


# class name -> writer of a tiny corpus in its original files (used by the recipe tests)
WRITERS: dict[str, Callable[[Path], Path]] = {"MRDA": write_mrda, "SwDA": write_swda}
