"""What preparing the data costs per cross-validation fold: MR read, split, tokenised and numericalised for each fold.

Every fold of ``textclf cv`` has its own prepared-data cache entry (its test split differs), so each fold reads and
tokenises the corpus again. This times :meth:`TextDataModule.prepare` for each fold in a fresh cache (no vectors:
the corpus alone), then the recipe's whole data side (vocabulary with GloVe's 100k words and the aligned vector
matrix, from the parsed-vectors store) for the first folds, and writes the numbers into docs/benchmarks.md.

Run: ``TEXTCLF_DATA=../shared/data TEXTCLF_VECTORS=../shared/vectors python benchmarks/cv_prepare.py``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from report import command, machine, update_section

from textclf import MR

SEED = 20250611  # the recipe rows' data seed (a new partition: nothing cached for it)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--vector_folds", type=int, default=3, help="folds timed with the recipe's vectors too")
    args = parser.parse_args()
    corpus, recipe = [], []
    with tempfile.TemporaryDirectory(prefix="cv-prepare-") as cache:
        for fold in range(args.folds):
            data = MR(fold=fold, num_folds=args.folds, cache_dir=cache, vectors=None)
            start = time.perf_counter()
            meta = data.prepare()
            corpus.append(time.perf_counter() - start)
            print(f"fold {fold}: corpus prepared in {corpus[-1]:.2f} s ({meta['sizes']})", flush=True)
        for fold in range(args.vector_folds):
            # the recipe's data, in the default cache where the parsed GloVe lives; a seed no run uses, so that
            # every fold's entry is built here, not found
            options = {"vectors": "glove-wiki-gigaword-50", "vectors_vocab_size": 100000, "seed": SEED}
            data = MR(fold=fold, num_folds=args.folds, **options)
            start = time.perf_counter()
            data.prepare()
            data.embeddings  # noqa: B018 (the aligned matrix)
            recipe.append(time.perf_counter() - start)
            print(f"fold {fold}: recipe data (with vectors) prepared in {recipe[-1]:.2f} s", flush=True)
    update_section(
        "cv-prepare",
        f"""## Preparing the data of each cross-validation fold (MR)

Each fold of `textclf cv` prepares its own cache entry (its test split differs): the corpus is read, split,
tokenised and numericalised again. MR (10,662 sentences), {args.folds} folds, each in a fresh cache.
Machine: {machine()}.

| what | per fold (s) | median (s) |
| --- | --- | ---: |
| corpus only (`vectors: null`) | {" ".join(f"{t:.2f}" for t in corpus)} | {statistics.median(corpus):.2f} |
| recipe's data: + GloVe 100k words, aligned matrix | {" ".join(f"{t:.2f}" for t in recipe)} | \
{statistics.median(recipe) if recipe else float("nan"):.2f} |

The second row uses the default cache, where GloVe was parsed once earlier (the parsed-vectors store), with
a data seed no other run uses ({SEED}), so each fold's data and matrix are built, not found. Both are small
against a fold's training (one MR epoch of the BiLSTM recipe takes tens of seconds on this machine), so the
folds do not share a tokenised corpus. Command: `{command()}`.""",
    )


if __name__ == "__main__":
    main()
