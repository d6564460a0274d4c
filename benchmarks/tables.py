"""The report of benchmarks/run.py: mean ± std tables, the per-cell list with commands, and a PNG plot.

Written from the results file alone, so that ``python benchmarks/run.py --report-only`` redraws it. Per corpus, the
textclf configuration reported as "ours" is the one with the best mean *validation* accuracy; its test accuracy is
then read off (the test split was scored once per cell, never used to choose).
"""

from __future__ import annotations

import math
import os
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from grid import CORPORA, GOALS, MODELS, SOURCES, VECTORS
from report import update_section

DOCS = Path(__file__).resolve().parents[1] / "docs"


def groups(results: dict[str, Any]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """The cells of each (corpus, model, vectors), in seed order."""
    found: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for cell in sorted(results["cells"].values(), key=lambda c: c["seed"]):
        found[(cell["corpus"], cell["model"], cell["vectors"])].append(cell)
    return found


def mean_std(values: list[float]) -> str:
    """``91.3 ± 0.4`` in % (sample std over seeds; ``91.3`` alone for one seed)."""
    mean = 100 * statistics.fmean(values)
    return f"{mean:.1f} ± {100 * statistics.stdev(values):.1f}" if len(values) > 1 else f"{mean:.1f}"


def config_name(model: str, vectors: str) -> str:
    return MODELS[model].title if vectors == "-" else f"{MODELS[model].title}; {VECTORS[vectors].title}"


def summary_table(found: dict[tuple[str, str, str], list[dict[str, Any]]], only_run: bool = False) -> str:
    """One row per corpus: ours (chosen on validation), fastText uni/bigrams, the goal, the best published.

    "Ours" is the textclf configuration with the best mean validation accuracy among those with the most seeds run.
    ``only_run`` leaves out the corpora without any result (the quick grid's).
    """
    rows = ["| corpus | ours: test acc | chosen on val | fastText uni | fastText bi | goal | best published |",
            "| --- | ---: | --- | ---: | ---: | ---: | --- |"]  # fmt: skip
    for key, corpus in CORPORA.items():
        if only_run and not any(k[0] == key for k in found):
            continue
        mine = {k: v for k, v in found.items() if k[0] == key and k[2] != "-"}
        most = max((len(v) for v in mine.values()), default=0)
        mine = {k: v for k, v in mine.items() if len(v) == most}  # a one-seed winner by val noise is not chosen
        if mine:
            (_, model, vectors), cells = max(mine.items(), key=lambda kv: statistics.fmean(c["val/acc"] for c in kv[1]))
            ours = mean_std([c["test/acc"] for c in cells])
            chosen = f"{config_name(model, vectors)} ({len(cells)} seed{'s' if len(cells) > 1 else ''})"
        else:
            ours, chosen = "not run", ""
        fast = [found.get((key, m, "-")) for m in ("fasttext_uni", "fasttext_bi")]
        fast_text = [mean_std([c["test/acc"] for c in cells]) if cells else "not run" for cells in fast]
        best = max(corpus.published, key=lambda p: p[1])
        rows.append(f"| {corpus.title} | {ours} | {chosen} | {fast_text[0]} | {fast_text[1]} | {GOALS[key]:.1f} | "
                    f"{best[0]} {best[1]:.1f} |")  # fmt: skip
    return "\n".join(rows)


def detail_table(found: dict[tuple[str, str, str], list[dict[str, Any]]]) -> str:
    """Every configuration that ran: test and validation mean ± std over seeds, minutes per seed, and published rows.

    Corpora without any result are left out.
    """
    rows = ["| corpus | configuration | test acc (%) | val acc (%) | seeds | min per seed |",
            "| --- | --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for key, corpus in CORPORA.items():
        if not any(k[0] == key for k in found):
            continue
        for (c, model, vectors), cells in sorted(found.items()):
            if c != key:
                continue
            minutes = statistics.fmean(cell["seconds"] for cell in cells) / 60
            test, val = mean_std([x["test/acc"] for x in cells]), mean_std([x["val/acc"] for x in cells])
            rows.append(
                f"| {corpus.title} | {config_name(model, vectors)} | {test} | {val} | {len(cells)} | {minutes:.1f} |"
            )
        rows += [f"| {corpus.title} | published: {name} | {value:.1f} | | | |" for name, value in corpus.published]
    return "\n".join(rows)


def cells_list(results: dict[str, Any]) -> str:
    """Every cell: its numbers, wall time, commit, and the exact command that produced it."""
    lines = ["# Benchmark cells", "", "Written by `python benchmarks/run.py` from its results file; each line is one "
             "cell (one seed) and the command that ran it, from the repository root with `TEXTCLF_DATA` and "
             "`TEXTCLF_VECTORS` set. fastText cells run inside the runner: rerun one with "
             "`python benchmarks/run.py --only KEY --rerun`.", ""]  # fmt: skip
    for name, vec in sorted(results.get("vectors", {}).items()):
        lines.append(f"- vectors `{name}`: {vec['seconds'] / 60:.1f} min, `{vec['command']}`")
    lines.append("")
    lines.append("| cell | test acc (%) | val acc (%) | min | commit | finished | command |")
    lines.append("| --- | ---: | ---: | ---: | --- | --- | --- |")
    for key, cell in sorted(results["cells"].items()):
        numbers = f"{100 * cell['test/acc']:.2f} | {100 * cell['val/acc']:.2f} | {cell['seconds'] / 60:.1f}"
        lines.append(f"| {key} | {numbers} | {cell['commit']} | {cell['finished']} | `{cell['command']}` |")
    return "\n".join(lines) + "\n"


def plot(found: dict[tuple[str, str, str], list[dict[str, Any]]], path: Path) -> None:
    """One panel per corpus: each configuration's test accuracy (mean ± std over seeds), the published numbers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    corpora = [k for k in CORPORA if any(g[0] == k for g in found)]
    if not corpora:
        return
    fig, axes = plt.subplots(len(corpora), 1, figsize=(12, 1.2 + 0.32 * max(
        len([g for g in found if g[0] == k]) + len(CORPORA[k].published) for k in corpora) * len(corpora)))  # fmt: skip
    for ax, key in zip([axes] if len(corpora) == 1 else axes, corpora, strict=True):
        mine = [g for g in found if g[0] == key]
        mine.sort(key=lambda g: statistics.fmean(c["test/acc"] for c in found[g]))
        labels = [config_name(m, v) for _, m, v in mine] + [f"published: {n}" for n, _ in CORPORA[key].published]
        means = [100 * statistics.fmean(c["test/acc"] for c in found[g]) for g in mine]
        stds = [100 * statistics.stdev([c["test/acc"] for c in found[g]]) if len(found[g]) > 1 else 0 for g in mine]
        ax.errorbar(means, range(len(mine)), xerr=stds, fmt="o", color="tab:blue", capsize=3)
        published = [v for _, v in CORPORA[key].published]
        ax.plot(published, range(len(mine), len(labels)), "s", color="tab:gray")
        ax.axvline(GOALS[key], color="tab:red", linestyle=":", linewidth=1)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_title(f"{CORPORA[key].title}: test accuracy (%), mean ± std over seeds; dotted: goal", fontsize=8)
        lows = [m - s for m, s in zip(means, stds, strict=True)] + published
        highs = [m + s for m, s in zip(means, stds, strict=True)] + published + [GOALS[key]]
        ax.set_xlim(math.floor(min(lows)) - 1, min(100.0, math.ceil(max(highs)) + 1))
        ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    staging = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(staging, dpi=110)
    os.replace(staging, path)
    plt.close(fig)


def _write(path: Path, text: str) -> None:
    """Write ``text`` through a temporary file: a reader never sees half of it."""
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(text)
    os.replace(staging, path)


def write_report(results: dict[str, Any], quick: bool, base: Path) -> None:
    """The report: docs/benchmarks.md (section ``accuracy-grid``), docs/benchmarks/cells.md and docs/benchmarks.png.

    ``quick`` writes the same three files under ``base`` instead, leaving docs/ alone.
    """
    found = groups(results)
    folder = base if quick else DOCS / "benchmarks"
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / "accuracy.png"
    plot(found, png)
    _write(folder / "cells.md", cells_list(results))
    cells = list(results["cells"].values())
    machines = sorted({c["machine"].split(", ")[0] for c in cells})
    hours = sum(c["seconds"] for c in cells) / 3600
    hours += sum(v["seconds"] for v in results.get("vectors", {}).values()) / 3600
    seeds = ", ".join(str(s) for s in sorted({c["seed"] for c in cells}))
    commits = ", ".join(f"{k} ({n})" for k, n in sorted(Counter(c["commit"] for c in cells).items()))
    failed = results.get("failed", {})
    failures = f" {len(failed)} cells failed: {', '.join(sorted(failed))}." if failed else ""
    sources = "\n".join(f"- {source}" for source in SOURCES)
    folds = "2 folds in the quick grid" if quick else "`textclf cv --folds 10`"
    markdown = f"""## Accuracy against the published numbers and fastText

Test accuracy (%), mean ± sample std over seeds ({seeds}), written by `python benchmarks/run.py`
({"the quick grid: short training, numbers not comparable" if quick else "the cells of the full grid run so far"}).
MR and Subj are the mean over the folds of cross-validation ({folds}); the others test on the corpus's own test set
(SST-2 on its 1,821 sentences, whether trained on sentences or on the GLUE phrases). A seed is textclf's
`seed_everything` (initialisation, dropout); the data seed (hold-outs, folds, batch order, the random rows of words
without a vector) stays the recipe's, so every seed and fastText see the same rows. "Ours" is the textclf
configuration with the best mean validation accuracy (among those with the most seeds); the test split is read once
per cell and never used to choose. fastText (pip `fasttext-wheel`; benchmarks/fasttext_baseline.py) trains on the
same rows, tokenised by the same tokenizer (whole texts: textclf's IMDB recipe cuts reviews at 400 tokens) and
chooses its learning rate and epochs on the same validation rows. Machine: {", ".join(machines) or "-"}, 2 cores;
each textclf fit used the `--threads` of its command (1; up to four runners shared the two cores, so minutes vary),
fastText one thread. The {len(cells)} cells here took {hours:.1f} h; by commit: {commits} ("+dirty": the code
differed from the commit).{failures} Every cell, its command and its time: [benchmarks/cells.md](benchmarks/cells.md);
plot: [benchmarks/accuracy.png](benchmarks/accuracy.png).

{summary_table(found, only_run=quick)}

A corpus "not run" has no result in docs/benchmarks/results.json yet (`python benchmarks/run.py --list` shows what is
left and how long it takes). Published numbers come with their own vectors and, for SST, training on the phrases:

{sources}

### Every configuration

{detail_table(found)}

![test accuracy per configuration](benchmarks/accuracy.png)"""
    if quick:
        _write(folder / "benchmarks.md", markdown + "\n")
    else:
        update_section("accuracy-grid", markdown)
