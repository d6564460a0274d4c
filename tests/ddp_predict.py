"""Test-only script for tests/test_ddp.py: predict texts with a checkpoint on 2 CPU processes (DDP, gloo).

    python tests/ddp_predict.py CHECKPOINT TEXTS_JSON OUT_DIR

Global rank 0 writes OUT_DIR/probs.npy (OrderedPredictions) and OUT_DIR/gathered.npy (gather_predictions over the
list trainer.predict returned); every rank writes OUT_DIR/rank<r>.json with the input indices it predicted.
Lightning's launcher runs this script once more for rank 1, with the same arguments.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lightning as L
import numpy as np
import torch

from textclf import TextClassifier
from textclf.distributed import OrderedPredictions, PredictionData, gather_predictions


def main(checkpoint: str, texts_json: str, out_dir: str) -> None:
    out = Path(out_dir)
    model = TextClassifier.load_from_checkpoint(checkpoint)
    texts = json.loads(Path(texts_json).read_text())
    writer = OrderedPredictions(out / "probs.npy")
    trainer = L.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        callbacks=[writer],
        use_distributed_sampler=False,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    # batch size 200 over 500 texts: 3 batches, so rank 0 predicts 2 and rank 1 predicts 1
    outputs = trainer.predict(model, datamodule=PredictionData(model.encode_texts(texts), batch_size=200))
    assert outputs is not None
    gathered = gather_predictions(trainer, outputs)  # type: ignore[arg-type]
    mine = [int(i) for batch in outputs for i in batch["index"]]  # type: ignore[index]
    (out / f"rank{trainer.global_rank}.json").write_text(json.dumps(mine))
    assert writer.probs is not None and np.array_equal(writer.probs, gathered)  # every rank holds the merged rows
    if trainer.is_global_zero:
        np.save(out / "gathered.npy", gathered)
    torch.distributed.barrier()  # leave together: a gloo peer that exits first can abort the other at exit
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:])
