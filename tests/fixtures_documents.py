"""Tiny corpora in the original distribution formats of the document benchmarks, written by the tests.

IMDB and 20 Newsgroups as the tar archives their authors publish; the Zhang et al. (2015) sets as their
``train.csv``/``test.csv`` (every field quoted, ``""`` escapes, literal ``\\n`` for newlines) and ``classes.txt``.
"""

from __future__ import annotations

import csv
import io
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path

from textclf.data.corpora.documents import NEWSGROUPS, AGNews, DBpedia14, YahooAnswers

POSITIVE = ["a great film", "superb acting and a lovely plot", "wonderful , really good", "fine and quite lovely"]
NEGATIVE = ["a dull film", "awful acting and a boring plot", "terrible , really bad", "poor and quite dull"]


def add_file(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def write_imdb(directory: Path, train_per_class: int = 6, test_per_class: int = 2, unsup: int = 3) -> Path:
    """``aclImdb_v1.tar.gz``: aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt (UTF-8, ``<br />``), unsup, vocab."""
    directory.mkdir(parents=True, exist_ok=True)
    with tarfile.open(directory / "aclImdb_v1.tar.gz", "w:gz") as archive:
        add_file(archive, "aclImdb/README", b"Large Movie Review Dataset v1.0\n")
        add_file(archive, "aclImdb/imdb.vocab", b"the\nfilm\n")
        for split, count in (("test", test_per_class), ("train", train_per_class)):  # test first, as in the original
            for label, phrases, rating in (("neg", NEGATIVE, 2), ("pos", POSITIVE, 9)):
                for i in reversed(range(count)):  # members out of id order: the reader sorts them
                    text = f"{phrases[i % 4]} ({split} {i}).<br /><br />caf\u00e9 review"
                    add_file(archive, f"aclImdb/{split}/{label}/{i}_{rating + i % 2}.txt", text.encode())
            add_file(archive, f"aclImdb/{split}/urls_pos.txt", b"http://www.imdb.com/title/tt0000000/usercomments\n")
        for i in range(unsup):
            add_file(archive, f"aclImdb/train/unsup/{i}_0.txt", f"unlabelled review {i}<br />with a break".encode())
    return directory


def write_class_csv(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    """Rows as the Zhang et al. releases write them: every field quoted, ``""`` escapes, no header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    return path


def zhang_rows(num_classes: int, fields: int, per_class: int, tag: str) -> list[list[str]]:
    """``per_class`` rows per class index, with quotes, ``\\n`` escapes and (for 3 fields) an empty field."""
    rows = []
    for i in range(per_class):
        for k in range(1, num_classes + 1):
            cue = (POSITIVE if k % 2 else NEGATIVE)[i % 4]
            parts = [f'The "{tag}" title {i}\\n{cue}', f"second field {k}", "an answer"][:fields]
            if fields == 3 and i == 0:
                parts[1] = ""  # a Yahoo question without content
            rows.append([str(k), *parts])
    return rows


def zhang_writer(num_classes: int, fields: int, classes: Sequence[str] | None = None) -> Callable[[Path], Path]:
    """A writer of ``train.csv`` (4 rows per class), ``test.csv`` (1 per class) and ``classes.txt`` if given."""

    def write(directory: Path) -> Path:
        write_class_csv(directory / "train.csv", zhang_rows(num_classes, fields, 4, "train"))
        write_class_csv(directory / "test.csv", zhang_rows(num_classes, fields, 1, "test"))
        if classes is not None:
            (directory / "classes.txt").write_text("\n".join(classes) + "\n")
        return directory

    return write


MESSAGE = """From: someone@example.edu (Some One)
Subject: Re: question {i}
Organization: Example University
Lines: 7

In article <1@example.edu> other@example.edu writes:
> a quoted line
{body} number {i}, caf\xe9 au lait.

--
Some One, signature line
"""
GROUPS = ("alt.atheism", "rec.autos", "sci.space")


EMPTIED = """From: someone@example.edu
Subject: Re: nothing new

In article <2@example.edu> other@example.edu writes:
> only a quoted line
"""


def write_20newsgroups(directory: Path, train_per_group: int = 4, test_per_group: int = 1, emptied: int = 0) -> Path:
    """``20news-bydate.tar.gz``: 20news-bydate-{train,test}/<group>/<number>, latin-1 messages, 3 groups.

    ``emptied`` more train messages of sci.space hold only headers and a quote (empty once both are stripped).
    """
    directory.mkdir(parents=True, exist_ok=True)
    with tarfile.open(directory / "20news-bydate.tar.gz", "w:gz") as archive:
        for number in range(60000, 60000 + emptied):
            add_file(archive, f"20news-bydate-train/sci.space/{number}", EMPTIED.encode("latin-1"))
        number = 50000
        for split, count in (("train", train_per_group), ("test", test_per_group)):
            for group in GROUPS:
                body = POSITIVE[0] if group == "rec.autos" else NEGATIVE[1]
                for i in range(count):
                    number -= 1  # numbers decrease: the reader sorts them
                    text = MESSAGE.format(i=i, body=f"{group} {body}").encode("latin-1")
                    add_file(archive, f"20news-bydate-{split}/{group}/{number}", text)
    return directory


assert set(GROUPS) <= set(NEWSGROUPS)

# class name -> writer of a tiny corpus in its original files (used by the recipe tests)
WRITERS: dict[str, Callable[[Path], Path]] = {
    "IMDB": write_imdb,
    "AGNews": zhang_writer(4, 2, AGNews.label_names),
    "YelpPolarity": zhang_writer(2, 1),
    "YelpFull": zhang_writer(5, 1),
    "DBpedia14": zhang_writer(14, 2, DBpedia14.label_names),
    "YahooAnswers": zhang_writer(10, 3, YahooAnswers.label_names),
    "AmazonPolarity": zhang_writer(2, 2),
    "AmazonFull": zhang_writer(5, 2),
    "TwentyNewsgroups": write_20newsgroups,
}
