"""What benchmarks/run.py runs: the corpora, the vectors, the encoders, the cells of the full and the quick grid.

A cell is one number of the report: a corpus protocol, a model (a textclf encoder, or the fastText baseline), a
vectors source and a seed. Its key (``trec/bilstm_max/glove50/seed1``) names it in the results file. Everything a
cell runs is a public command (``textclf vectors train``, ``textclf fit``, ``textclf cv``) or the pip ``fasttext``
package, so each number can be rerun by hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Corpus:
    """A corpus protocol: the recipe folder it trains from, how it is tested, the published numbers beside it.

    ``minutes`` is the expected wall time of one seed of one textclf cell on the 2-core reference machine (all 10
    folds for a cv protocol); the runner replaces it by what it measured once a cell of the corpus has run.
    """

    key: str
    recipe_dir: str
    title: str
    protocol: str  # "split": the corpus's own test set; "cv10": mean over 10 folds (textclf cv)
    minutes: float
    published: tuple[tuple[str, float], ...]
    quick_overrides: tuple[str, ...] = ()


KIM = "Kim 2014 CNN"
ZHOU = "Zhou et al. 2016 BLSTM"
CORPORA = {
    c.key: c
    for c in (
        Corpus("trec", "trec", "TREC (6 classes)", "split", 1.5,
               ((f"{KIM}-rand", 91.2), (f"{KIM}-static", 92.8), (f"{KIM}-non-static", 93.6),
                (f"{KIM}-multichannel", 92.2), (ZHOU, 93.0))),
        Corpus("sst2", "sst2", "SST-2, trained on sentences", "split", 1.5,
               ((f"{KIM}-rand (phrases)", 82.7), (f"{KIM}-static (phrases)", 86.8),
                (f"{KIM}-non-static (phrases)", 87.2), (f"{KIM}-multichannel (phrases)", 88.1),
                ("Tai et al. 2015 BiLSTM (phrases)", 87.5))),
        Corpus("sst2-phrases", "glue_sst2", "SST-2, trained on the GLUE phrases", "split", 12.0,
               ((f"{KIM}-rand (phrases)", 82.7), (f"{KIM}-non-static (phrases)", 87.2),
                (f"{KIM}-multichannel (phrases)", 88.1), ("Tai et al. 2015 BiLSTM (phrases)", 87.5))),
        Corpus("sst5", "sst5", "SST-5 (SST-1)", "split", 2.0,
               ((f"{KIM}-rand (phrases)", 45.0), (f"{KIM}-static (phrases)", 45.5),
                (f"{KIM}-non-static (phrases)", 48.0), (f"{KIM}-multichannel (phrases)", 47.4),
                ("Tai et al. 2015 BiLSTM (phrases)", 49.1))),
        Corpus("mr", "mr", "MR (cross-validation)", "cv10", 15.0,
               ((f"{KIM}-rand", 76.1), (f"{KIM}-static", 81.0), (f"{KIM}-non-static", 81.5),
                (f"{KIM}-multichannel", 81.1), (ZHOU, 80.0))),
        Corpus("subj", "subj", "Subj (cross-validation)", "cv10", 15.0,
               ((f"{KIM}-rand", 89.6), (f"{KIM}-static", 93.0), (f"{KIM}-non-static", 93.4),
                (f"{KIM}-multichannel", 93.2), (ZHOU, 92.1))),
        Corpus("imdb", "imdb", "IMDB (25k/25k)", "split", 20.0,
               (("Maas et al. 2011 word vectors + bag of words", 88.9), ("Wang & Manning 2012 NBSVM-bi", 91.2),
                ("Keras example, fastText-style bigrams", 90.6))),
    )
}  # fmt: skip
"""The seven protocols of the report, with published test accuracies (sources in :data:`SOURCES`)."""

SOURCES = (
    "Kim 2014: Y. Kim, Convolutional Neural Networks for Sentence Classification, EMNLP 2014, Table 2 (word2vec 300d "
    "on 100B words of Google News; SST models trained on phrases and sentences)",
    "Tai et al. 2015: K. S. Tai, R. Socher, C. D. Manning, Improved Semantic Representations From Tree-Structured "
    "LSTM Networks, ACL 2015, Table 2 (bidirectional LSTM; SST trained on phrases)",
    "Zhou et al. 2016: P. Zhou, Z. Qi, S. Zheng, J. Xu, H. Bao, B. Xu, Text Classification Improved by Integrating "
    "Bidirectional LSTM with Two-dimensional Max Pooling, COLING 2016 (their BLSTM baseline)",
    "Maas et al. 2011: A. L. Maas et al., Learning Word Vectors for Sentiment Analysis, ACL 2011 (full model)",
    "Wang & Manning 2012: S. Wang, C. D. Manning, Baselines and Bigrams: Simple, Good Sentiment and Topic "
    "Classification, ACL 2012 (NBSVM-bi)",
    "Keras example: the IMDB bigram fastText-style model of the Keras examples (imdb_fasttext.py), 0.9056",
)

GOALS = {"trec": 93.6, "sst2": 88.1, "sst2-phrases": 88.1, "sst5": 49.1, "mr": 81.5, "subj": 93.4, "imdb": 91.0}
"""The issue's goals (test accuracy %, mean over seeds)."""


@dataclass(frozen=True)
class Vectors:
    """A vectors source: the ``textclf fit`` overrides that select it, and how it is made when it is trained here."""

    key: str
    title: str
    source: str | None  # a gensim-data name, a file name under $TEXTCLF_VECTORS, or a file trained into vectors_dir
    trained: tuple[str, ...] = ()  # ``textclf vectors train`` arguments (without -o) when the runner makes the file


VECTORS = {
    v.key: v
    for v in (
        Vectors("random", "random init (300d)", None),
        Vectors("glove50", "GloVe 6B 50d", "glove-wiki-gigaword-50"),
        Vectors("gnews13k", "GoogleNews word2vec, 13k-word subset (300d)",
                "GoogleNews-vectors-negative300.subset-13k.bin"),
        Vectors("w2v-imdb", "word2vec skip-gram 300d, trained here on IMDB unlabelled", "imdb-w2v-300.bin",
                ("--data", "recipes/imdb/data.yaml", "--split", "unlabelled", "--model", "word2vec", "--sg",
                 "--dim", "300", "--window", "5", "--min-count", "5", "--epochs", "5", "--seed", "1")),
        Vectors("ft-imdb", "fastText skip-gram 300d (subwords), trained here on IMDB unlabelled", "imdb-ft-300.bin",
                ("--data", "recipes/imdb/data.yaml", "--split", "unlabelled", "--model", "fasttext", "--sg",
                 "--dim", "300", "--window", "5", "--min-count", "5", "--epochs", "5", "--bucket", "200000",
                 "--seed", "1")),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Model:
    """An encoder variant of the BiLSTM-max recipe (its overrides), or the fastText baseline (``word_ngrams``)."""

    key: str
    title: str
    overrides: tuple[str, ...] = ()
    word_ngrams: int = 0  # > 0: the pip fastText baseline with these word n-grams


def _rnn(cell: str, bidirectional: bool, pooling: str) -> Model:
    key = f"{'bi' if bidirectional else ''}{cell}_{pooling}"
    title = f"{'Bi' if bidirectional else ''}{cell.upper()}, {pooling} pooling"
    enc = "--model.encoder.init_args."
    overrides = (f"{enc}cell={cell}", f"{enc}bidirectional={str(bidirectional).lower()}", f"{enc}pooling={pooling}")
    return Model(key, title, overrides)


MODELS = {
    m.key: m
    for m in (
        *(_rnn(c, b, p) for c in ("lstm", "gru") for b in (True, False) for p in ("max", "last")),
        Model("fasttext_uni", "fastText, unigrams", word_ngrams=1),
        Model("fasttext_bi", "fastText, bigrams", word_ngrams=2),
    )
}


@dataclass(frozen=True)
class Cell:
    """One number of the report."""

    corpus: str
    model: str
    vectors: str  # "-" for the fastText baseline, which learns its own
    seed: int

    @property
    def key(self) -> str:
        """``corpus/model/vectors/seedN``."""
        return f"{self.corpus}/{self.model}/{self.vectors}/seed{self.seed}"

    @property
    def is_fasttext(self) -> bool:
        """Whether the cell runs the fastText baseline."""
        return MODELS[self.model].word_ngrams > 0


SEEDS = (1, 2, 3)
ENCODER_CORPORA = ("trec", "sst2", "sst5")  # where every encoder variant runs (fast corpora)


def full_grid(seeds: tuple[int, ...] = SEEDS) -> list[Cell]:
    """The full run, cheapest and most telling cells first (a stopped run has already filled the fast rows).

    1. fastText, unigrams and bigrams, on every protocol;
    2. BiLSTM-max with each vectors source on every protocol;
    3. the eight LSTM/GRU x uni/bi x max/last encoders with the in-domain word2vec vectors on TREC and SST.
    """
    order = list(CORPORA)
    cells = [Cell(c, m, "-", s) for c in order for m in ("fasttext_uni", "fasttext_bi") for s in seeds]
    cells += [Cell(c, "bilstm_max", v, s) for c in order for v in VECTORS for s in seeds]
    cells += [
        Cell(c, m, "w2v-imdb", s)
        for c in ENCODER_CORPORA
        for m in MODELS
        if not MODELS[m].word_ngrams and m != "bilstm_max"
        for s in seeds
    ]
    return cells


QUICK_CORPORA = ("trec", "sst2")
QUICK_FIT = ("--trainer.max_epochs=2", "--trainer.limit_train_batches=30", "--trainer.limit_val_batches=5")
QUICK_VECTORS = ("--max-texts", "3000", "--dim", "50", "--epochs", "1")  # appended to a trained source's arguments


QUICK_FOLDS = 2  # cross-validation folds of the quick grid's MR cells (10 in the full grid)


def quick_grid(seeds: tuple[int, ...] = SEEDS) -> list[Cell]:
    """Minutes, and every path of the full grid once.

    TREC and SST-2 with every seed: fastText, and BiLSTM-max with GloVe and with word2vec trained here (on 3,000
    reviews). With the first seed: MR by cross-validation (fastText and BiLSTM-max, 2 folds), the GoogleNews subset,
    random vectors with a BiGRU-last, and fastText vectors trained here.
    """
    cells = [Cell(c, m, "-", s) for c in QUICK_CORPORA for m in ("fasttext_uni", "fasttext_bi") for s in seeds]
    cells += [Cell(c, "bilstm_max", v, s) for c in QUICK_CORPORA for v in ("glove50", "w2v-imdb") for s in seeds]
    first = seeds[0]
    return [
        *cells,
        Cell("mr", "fasttext_bi", "-", first),
        Cell("mr", "bilstm_max", "glove50", first),
        Cell("trec", "bilstm_max", "gnews13k", first),
        Cell("trec", "bigru_last", "random", first),
        Cell("trec", "bilstm_max", "ft-imdb", first),
    ]


def vectors_overrides(vectors: Vectors, vectors_dir: Path) -> list[str]:
    """The ``textclf fit`` options that select ``vectors`` (random: no vectors, 300d embeddings drawn and trained)."""
    if vectors.source is None:
        return ["--data.init_args.vectors=null", "--model.embedding_mode=random", "--model.embedding_dim=300"]
    if vectors.trained:
        return [f"--data.init_args.vectors={vectors_dir / vectors.source}"]
    return [f"--data.init_args.vectors={vectors.source}"]


def recipe(corpus: Corpus) -> Path:
    """The BiLSTM-max recipe the textclf cells of ``corpus`` start from (relative to the repository)."""
    return Path("recipes") / corpus.recipe_dir / "bilstm_max.yaml"


def data_root() -> str:
    """``$TEXTCLF_DATA`` (where the corpora are), for the report."""
    return os.environ.get("TEXTCLF_DATA", "(unset)")
