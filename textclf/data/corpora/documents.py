"""Document-level corpora: IMDB, the Zhang et al. (2015) sets (AG News, Yelp, DBpedia, Yahoo, Amazon), 20 Newsgroups.

Each reads its original distribution straight from the files its authors publish (archives are streamed, never
unpacked), or the Hugging Face Hub. Original files, under ``$TEXTCLF_DATA/<folder>`` or ``data_dir``:

- ``imdb/aclImdb_v1.tar.gz`` (Maas et al. 2011, as distributed).
- ``ag_news/``, ``yelp_polarity/``, ``yelp_full/``, ``dbpedia/``, ``yahoo_answers/``, ``amazon_polarity/``,
  ``amazon_full/``: the ``train.csv`` and ``test.csv`` (and ``classes.txt`` where the release has one) of the
  unpacked ``*_csv.tgz`` archives of Zhang et al. (2015): e.g. ``ag_news_csv/`` unpacked as ``ag_news/``.
- ``20newsgroups/20news-bydate.tar.gz`` (the "bydate" split of Jason Rennie's page, as distributed).

None of these has a validation split: ``val_fraction`` of train is held out (stratified, seeded).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from textclf.data.corpora.archives import (
    MESSAGE_PARTS,
    DocumentCorpus,
    ZhangCorpus,
    iter_tar,
    strip_message,
)
from textclf.data.encoding import decode_bytes
from textclf.data.splits import LabelledSplit
from textclf.errors import TextclfError
from textclf.wording import counted

__all__ = [
    "IMDB",
    "AGNews",
    "AmazonFull",
    "AmazonPolarity",
    "DBpedia14",
    "TwentyNewsgroups",
    "YahooAnswers",
    "YelpFull",
    "YelpPolarity",
]

log = logging.getLogger(__name__)


# ---- IMDB ----------------------------------------------------------------------------------------------------

_IMDB_LAYOUT = "aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt"
_IMDB_REVIEW = r"aclImdb/(?P<split>train|test)/(?P<label>pos|neg)/(?P<id>\d+)_(?P<rating>\d+)\.txt"
_IMDB_UNSUP = r"aclImdb/train/unsup/\d+_\d+\.txt"
_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


class IMDB(DocumentCorpus):
    """IMDB Large Movie Review Dataset v1.0 (Maas et al. 2011): ``neg``/``pos``, 25,000 train / 25,000 test.

    Read straight from ``aclImdb_v1.tar.gz`` (``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt``, UTF-8), or
    the Hub's ``stanfordnlp/imdb`` (columns ``text``, ``label``). The HTML line breaks ``<br />`` inside the
    reviews become spaces. Examples are ordered by label and review id, whatever the archive's member order;
    :meth:`split_meta` keeps each review's ``id`` and ``rating`` (1-10). The 50,000 unlabelled reviews
    (``aclImdb/train/unsup``) are reachable through :meth:`unlabelled_texts`, e.g. to pretrain word vectors.
    """

    folder = "imdb"
    files = ("aclImdb_v1.tar.gz",)
    label_names = ("neg", "pos")
    hub = "stanfordnlp/imdb"

    def clean_text(self, text: str) -> str:
        """``<br />`` becomes a space."""
        return _LINE_BREAK.sub(" ", text)

    def read_files(self, directory: Path) -> dict[str, LabelledSplit]:
        """Both labelled splits, in one pass over the archive."""
        archive = directory / self.files[0]
        found: dict[str, list[tuple[str, int, int, str]]] = {"train": [], "test": []}
        for match, data in iter_tar(archive, _IMDB_REVIEW, _IMDB_LAYOUT):
            text = self.clean_text(decode_bytes(data))
            found[match["split"]].append((match["label"], int(match["id"]), int(match["rating"]), text))
        splits = {}
        for split, reviews in found.items():
            missing = sorted(set(self.label_names) - {label for label, *_ in reviews})
            if missing:
                raise TextclfError(
                    f"{archive}: no reviews in aclImdb/{split}/{missing[0]}/ (expected the layout {_IMDB_LAYOUT})"
                )
            reviews.sort(key=lambda review: review[:2])
            labels, ids, ratings, texts = (list(column) for column in zip(*reviews, strict=True))
            meta = {"id": ids, "rating": ratings}
            splits[split] = LabelledSplit(texts, labels, f"{archive} [aclImdb/{split}]", meta=meta)
        return splits

    def unlabelled_texts(self) -> Iterator[str]:
        """The 50,000 unlabelled reviews (``aclImdb/train/unsup``; the Hub's ``unsupervised`` split), cleaned.

        Streamed in archive order from the original files (whichever source :meth:`resolved_source` picks), so
        they never all sit in memory; meant for pretraining word vectors on in-domain text.
        """
        if self.resolved_source() == "hub":
            yield from self._hub_unlabelled()
            return
        archive = self.require_files() / self.files[0]
        count = 0
        for _, data in iter_tar(archive, _IMDB_UNSUP, "aclImdb/train/unsup/<id>_0.txt"):
            count += 1
            yield self.clean_text(decode_bytes(data))
        if count == 0:
            raise TextclfError(f"{archive}: no unlabelled reviews (expected aclImdb/train/unsup/<id>_0.txt)")

    def _hub_unlabelled(self) -> Iterator[str]:
        for text in self.load_hub(split="unsupervised")["text"]:
            yield self.clean_text(text)


# ---- Zhang et al. (2015) ----------------------------------------------------------------------------------------


STARS = ("1 star", "2 stars", "3 stars", "4 stars", "5 stars")


class AGNews(ZhangCorpus):
    """AG News topics: World, Sports, Business, Sci/Tech; 120,000 train / 7,600 test (title + description)."""

    folder = "ag_news"
    fields = ("title", "description")
    label_names = ("World", "Sports", "Business", "Sci/Tech")
    hub = "fancyzhx/ag_news"


class YelpPolarity(ZhangCorpus):
    """Yelp review polarity (1-2 stars negative, 4-5 positive): 560,000 train / 38,000 test."""

    folder = "yelp_polarity"
    fields = ("review",)
    label_names = ("negative", "positive")
    hub = "fancyzhx/yelp_polarity"


class YelpFull(ZhangCorpus):
    """Yelp review stars, 1 to 5: 650,000 train / 50,000 test."""

    folder = "yelp_full"
    fields = ("review",)
    label_names = STARS
    hub = "Yelp/yelp_review_full"


class DBpedia14(ZhangCorpus):
    """DBpedia ontology, 14 classes: 560,000 train / 70,000 test (title + content)."""

    folder = "dbpedia"
    fields = ("title", "content")
    label_names = (
        "Company", "EducationalInstitution", "Artist", "Athlete", "OfficeHolder", "MeanOfTransportation",
        "Building", "NaturalPlace", "Village", "Animal", "Plant", "Album", "Film", "WrittenWork",
    )  # fmt: skip
    hub = "fancyzhx/dbpedia_14"
    hub_text = ("title", "content")


class YahooAnswers(ZhangCorpus):
    """Yahoo! Answers topics, 10 classes: 1,400,000 train / 60,000 test (question title + content + best answer)."""

    folder = "yahoo_answers"
    fields = ("question title", "question content", "best answer")
    label_names = (
        "Society & Culture", "Science & Mathematics", "Health", "Education & Reference", "Computers & Internet",
        "Sports", "Business & Finance", "Entertainment & Music", "Family & Relationships", "Politics & Government",
    )  # fmt: skip
    hub = "community-datasets/yahoo_answers_topics"
    hub_text = ("question_title", "question_content", "best_answer")
    hub_label = "topic"


class AmazonPolarity(ZhangCorpus):
    """Amazon review polarity (1-2 stars negative, 4-5 positive): 3,600,000 train / 400,000 test (title + content)."""

    folder = "amazon_polarity"
    fields = ("title", "content")
    label_names = ("negative", "positive")
    hub = "fancyzhx/amazon_polarity"
    hub_text = ("title", "content")


class AmazonFull(ZhangCorpus):
    """Amazon review stars, 1 to 5: 3,000,000 train / 650,000 test (title + content).

    No Parquet copy on the Hub is known: read the original files, or give ``hub_id`` of a dataset with the
    columns ``label`` (0-4), ``title`` and ``content``.
    """

    folder = "amazon_full"
    fields = ("title", "content")
    label_names = STARS
    hub = ""
    hub_text = ("title", "content")


# ---- 20 Newsgroups ----------------------------------------------------------------------------------------------

NEWSGROUPS = (
    "alt.atheism", "comp.graphics", "comp.os.ms-windows.misc", "comp.sys.ibm.pc.hardware", "comp.sys.mac.hardware",
    "comp.windows.x", "misc.forsale", "rec.autos", "rec.motorcycles", "rec.sport.baseball", "rec.sport.hockey",
    "sci.crypt", "sci.electronics", "sci.med", "sci.space", "soc.religion.christian", "talk.politics.guns",
    "talk.politics.mideast", "talk.politics.misc", "talk.religion.misc",
)  # fmt: skip
_NG_LAYOUT = "20news-bydate-{train,test}/<newsgroup>/<message number>"
_NG_MESSAGE = r"20news-bydate-(?P<split>train|test)/(?P<group>[^/]+)/(?P<id>\d+)"


class TwentyNewsgroups(DocumentCorpus):
    """20 Newsgroups, "bydate" version: 20 newsgroups (the labels), 11,314 train / 7,532 test messages.

    Read straight from ``20news-bydate.tar.gz`` (``20news-bydate-{train,test}/<newsgroup>/<number>``, latin-1),
    in newsgroup and message-number order (:meth:`split_meta` keeps each ``id``), or from the Hub's
    ``SetFit/20_newsgroups`` (columns ``text``, ``label_text``; headers, signatures and quotes already removed).

    Args:
        remove: parts of the original messages to strip, as scikit-learn's ``fetch_20newsgroups`` does:
            ``headers`` (up to the first blank line), ``footers`` (after the last blank or ``--`` line) and
            ``quotes`` (quoted lines and their attribution); the recommended practice, as topic cues (e-mail
            addresses, signatures) otherwise leak. Messages left empty are dropped, with a logged count.
        **kwargs: source and preparation options of :class:`PublicCorpus`.
    """

    folder = "20newsgroups"
    files = ("20news-bydate.tar.gz",)
    label_names = NEWSGROUPS
    hub = "SetFit/20_newsgroups"
    hub_label = "label_text"

    def __init__(self, *, remove: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.remove = list(remove or [])
        unknown = [part for part in self.remove if part not in MESSAGE_PARTS]
        if unknown:
            raise TextclfError(f"TwentyNewsgroups: remove accepts {', '.join(MESSAGE_PARTS)}; got {unknown}")

    def read_files(self, directory: Path) -> dict[str, LabelledSplit]:
        """Both splits, in one pass over the archive."""
        archive = directory / self.files[0]
        known = set(self.label_names)
        found: dict[str, list[tuple[str, int, str]]] = {"train": [], "test": []}
        for match, data in iter_tar(archive, _NG_MESSAGE, _NG_LAYOUT):
            if match["group"] not in known:
                raise TextclfError(
                    f"{archive}: unexpected folder {match.group(0).rpartition('/')[0]}/ (expected {_NG_LAYOUT}, "
                    f"with the 20 bydate newsgroups {', '.join(NEWSGROUPS[:2])}, ...)"
                )
            text = strip_message(decode_bytes(data, "latin-1"), self.remove)
            found[match["split"]].append((match["group"], int(match["id"]), text))
        splits = {}
        for split, messages in found.items():
            if not messages:
                raise TextclfError(f"{archive}: no messages in 20news-bydate-{split}/ (expected {_NG_LAYOUT})")
            messages.sort(key=lambda message: message[:2])
            source = f"{archive} [20news-bydate-{split}]"
            messages = self._drop_emptied(messages, source)
            labels, ids, texts = (list(column) for column in zip(*messages, strict=True))
            splits[split] = LabelledSplit(texts, labels, source, meta={"id": ids})
        return splits

    def _drop_emptied(self, messages: list[tuple[str, int, str]], source: str) -> list[tuple[str, int, str]]:
        """The ``(group, id, text)`` messages that stripping left with some text; the others are counted and logged.

        Raises:
            TextclfError: stripping left every message of the split empty.
        """
        kept = [message for message in messages if message[2].strip()]
        if len(kept) == len(messages):
            return messages
        parts = " and ".join(", ".join(self.remove).rsplit(", ", 1))
        group, number, _ = next(message for message in messages if not message[2].strip())
        log.warning("%s: dropped %s left empty by stripping %s (e.g. %s/%d); %s kept", source,
                    counted(len(messages) - len(kept), "document"), parts, group, number,
                    counted(len(kept), "document"))  # fmt: skip
        if not kept:
            raise TextclfError(f"{source}: every message is empty once its {parts} are stripped")
        return kept

    def fingerprint(self) -> dict[str, Any]:
        """The files (or Hub id), and what is stripped from the original messages."""
        return {**super().fingerprint(), "remove": self.remove}
