#!/usr/bin/env bash
# GPU check of the inference, report and CLI paths on one CUDA device (bf16 fit, test from a checkpoint without
# vectors, evaluate and predict on cuda, CPU/CUDA/bf16 agreement). From the project root:
#   TEXTCLF_DATA=../shared/data bash benchmarks/gpu_check.sh
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD TEXTCLF_DATA=${TEXTCLF_DATA:-../shared/data} TEXTCLF_CACHE=${TEXTCLF_CACHE:-/tmp/tcache}
OUT=${OUT:-$(mktemp -d)}
T0=$(date +%s)
[ -n "${WHEELS:-}" ] && python3 -m pip install --no-deps --no-index -q "$WHEELS"/*.whl  # a machine without the packages: a folder of wheels
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, lightning, textclf; print('torch', torch.__version__, 'lightning', lightning.__version__, 'cuda', torch.cuda.is_available())"
echo "== gpu tests"; python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_encoders.py 2>&1 | tail -3
COMMON="--data.vectors=null --model.embedding_dim=50 --trainer.enable_progress_bar=false --trainer.default_root_dir=$OUT/runs"
echo "== fit bf16 on GPU (recipe + gpu layer)"; python3 -m textclf fit -c recipes/trec/bilstm_max.yaml -c recipes/_base/gpu.yaml $COMMON --trainer.max_epochs=4 2>&1 | grep -E "textclf|Error|error|precision|GPU available" | tail -12
CK=$OUT/runs/trec/bilstm_max/version_0/checkpoints/best.ckpt
cp $OUT/runs/trec/bilstm_max/version_0/report/metrics.json $OUT/fit_report_metrics.json 2>/dev/null
cp $OUT/runs/trec/bilstm_max/version_0/test_metrics.json $OUT/fit_test_metrics.json 2>/dev/null
echo "== test --ckpt_path on GPU, no vectors"; python3 -m textclf test -c recipes/trec/bilstm_max.yaml -c recipes/_base/gpu.yaml --ckpt_path $CK --data.vectors=null --trainer.enable_progress_bar=false --trainer.default_root_dir=$OUT/runs 2>&1 | grep -E "test/|textclf|rror" | tail -8
echo "== evaluate on cuda"; python3 -m textclf evaluate $CK $TEXTCLF_DATA/trec/TREC.test --format lines --line-pattern '^(?P<label>[A-Z]+):\S+ (?P<text>.*)$' --device cuda --report-dir $OUT/evaluate 2>&1 | tail -3
echo "== predict on cuda"; cut -d' ' -f2- $TEXTCLF_DATA/trec/TREC.test > /tmp/q.txt; python3 -m textclf predict $CK /tmp/q.txt --device cuda -o $OUT/pred.jsonl --no-progress 2>&1 | tail -2; wc -l $OUT/pred.jsonl
echo "== cpu vs cuda vs bf16 probabilities"; python3 - "$CK" <<'PY'
import os, sys, torch
from textclf import TextClassifier
from textclf.inference import predict_proba
texts = [line.split(" ", 1)[1] for line in open(os.environ["TEXTCLF_DATA"] + "/trec/TREC.test", encoding="latin-1")]
m = TextClassifier.load_from_checkpoint(sys.argv[1])
cpu = predict_proba(m, texts)
gpu = predict_proba(m, texts, device="cuda")
bf16 = predict_proba(m, texts, device="cuda", autocast=lambda: torch.autocast("cuda", dtype=torch.bfloat16))
print("n", len(texts), "max|cpu-cuda|", abs(cpu - gpu).max(), "max|cpu-bf16|", abs(cpu - bf16).max(),
      "argmax agree cpu/bf16", (cpu.argmax(1) == bf16.argmax(1)).mean(), "model stays on", m.device)
PY
echo "== elapsed $(( $(date +%s) - T0 )) s"
