"""Train and test shipped recipes with `textclf fit`, and tabulate their test scores in docs/benchmarks.md.

    TEXTCLF_DATA=../shared/data TEXTCLF_VECTORS=../shared/vectors python benchmarks/accuracy.py \
        recipes/trec/bilstm_max.yaml recipes/trec/gru_last.yaml recipes/sst2/bilstm_max.yaml recipes/sst2/gru_last.yaml

Each recipe runs in its own process, exactly as a user would run it; the scores are read from the
`test_metrics.json` that `textclf fit` writes next to the best checkpoint.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import command, machine, update_section

# Published test accuracies on the same splits, for context (sources in the table's notes).
REFERENCES = {
    "trec": "fastText 90.6; Kim 2014 CNN-rand 91.2, CNN-non-static 93.6",
    "sst2": "fastText 80.0; Kim 2014 CNN-rand 82.7, CNN-non-static 87.2; Tai et al. 2015 BiLSTM 87.5",
}


def run_recipe(recipe: Path, root_dir: Path, extra: list[str]) -> dict[str, float | str]:
    """Run `textclf fit -c recipe` and return its test metrics and wall time."""
    before = set(root_dir.glob("*/*/version_*"))
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "textclf",
            "fit",
            "-c",
            str(recipe),
            "--trainer.enable_progress_bar=false",
            f"--trainer.default_root_dir={root_dir}",
            *extra,
        ],
        check=True,
    )
    seconds = time.perf_counter() - start
    (run_dir,) = set(root_dir.glob("*/*/version_*")) - before
    metrics = json.loads((run_dir / "test_metrics.json").read_text())
    return {**metrics, "seconds": seconds, "run_dir": str(run_dir)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipes", nargs="+", type=Path)
    parser.add_argument("--root-dir", type=Path, default=Path("runs/accuracy"))
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="after --: more `textclf fit` arguments")
    args = parser.parse_args()
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    rows = []
    for recipe in args.recipes:
        result = run_recipe(recipe, args.root_dir, extra)
        corpus = recipe.parent.name
        rows.append(
            f"| {corpus}/{recipe.stem} | {100 * float(result['test/acc']):.1f} | "
            f"{100 * float(result['test/f1_macro']):.1f} | {float(result['seconds']) / 60:.1f} | "
            f"{REFERENCES.get(corpus, '')} |"
        )
        print(rows[-1], flush=True)
    table = "\n".join(rows)
    update_section(
        "accuracy",
        f"""## Test accuracy of the shipped recipes

GloVe 6B 50d vectors (`glove-wiki-gigaword-50`, found in `TEXTCLF_VECTORS`), each recipe run once with its
seed (42), best epoch by validation accuracy. TREC has no validation split: 10% of its training set is held
out (stratified, seeded). Machine: {machine()}.

| recipe | test acc (%) | test macro-F1 (%) | wall time (min) | published, same test set |
| --- | ---: | ---: | ---: | --- |
{table}

Command: `{command()}`. Published numbers are context, not a like-for-like comparison: Kim (2014) used
word2vec 300d vectors (the numbers as listed in the corpora's README), fastText's are the ones quoted in the
project's issue for these splits.""",
    )


if __name__ == "__main__":
    main()
