#!/usr/bin/env bash
# The GPU measurements in one call, for a session lent a GPU (docs/speed.md, "On a GPU"):
#
#   OUT=/some/folder bash benchmarks/gpu_check.sh            # the device tool sets $OUT
#
# Runs from the repository root with PyTorch (CUDA) already installed and the code on
# PYTHONPATH=src (nothing is installed); ends within ~9.5 minutes (its steps' time limits
# add up to 570 s); writes under $OUT:
#   env.txt        GPU, driver, torch and CUDA versions
#   tests.txt      the CUDA tests (fit on the GPU follows the CPU; the parallel scan on the
#                  GPU equals the reference)
#   scan.md        bench_scan.py --device cuda: the per-step loop against the parallel scan
#   speed.md       bench_speed.py --device cuda: epoch per model, inference per cycle at
#                  batch 1 and 8192
#   batched.md     bench_batched_folds.py --device cuda: one epoch of the 5 folds as one
#                  batched model against 5 separate fits (LSTM, Transformer, Mamba)
#   protocol.txt   the `paper` protocol (5 folds + final fit, every fit to the 300-epoch cap)
#                  for the study's three models on 720 synthetic cycles, the three runs side
#                  by side on the one GPU: wall seconds, or how far it got by the time limit
#                  (PROTOCOL_BATCHED=1: with --batched-folds, each model's folds as one
#                  model)
# PRECISION=bf16: speed.md and the protocol under `--precision bf16` (bfloat16 autocast of
# the training step; the default float32; not with PROTOCOL_BATCHED=1, which trains in
# float32 only and is refused with it).
# Each step's failure is recorded and the next runs.
set -uo pipefail
OUT=${OUT:-runs/gpu-check}
PY=${PYTHON:-python3}
PROTOCOL_LIMIT=${PROTOCOL_LIMIT:-240}  # seconds for the whole protocol
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu: a dry run of the script's plumbing on a CPU
PROTOCOL_BATCHED=${PROTOCOL_BATCHED:-0}
PRECISION=${PRECISION:-float32}
mkdir -p "$OUT"
export PYTHONPATH=src
# the host-side CPU kernels are not needed here: skip their one-minute build
export GAIT2HIP_SCAN_KERNEL=0
export GAIT2HIP_CACHE="$OUT/cache"

{
  nvidia-smi || true
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'device', torch.cuda.get_device_name(0))"
} > "$OUT/env.txt" 2>&1

timeout 70 $PY -m pytest -q -p no:cacheprovider tests/test_protocol.py tests/test_models.py \
  tests/test_batched.py \
  -k "gpu or cuda" > "$OUT/tests.txt" 2>&1 || echo "exit $?" >> "$OUT/tests.txt"

timeout 90 $PY benchmarks/bench_scan.py --device "$DEVICE" --repeats 5 > "$OUT/scan.md" 2>&1 \
  || echo "exit $?" >> "$OUT/scan.md"

timeout 120 $PY benchmarks/bench_speed.py --device "$DEVICE" --rounds 2 --inference-batch 8192 \
  --precision "$PRECISION" > "$OUT/speed.md" 2>&1 || echo "exit $?" >> "$OUT/speed.md"

timeout 50 $PY benchmarks/bench_batched_folds.py --device "$DEVICE" --models lstm,transformer,mamba \
  > "$OUT/batched.md" 2>&1 || echo "exit $?" >> "$OUT/batched.md"

# the paper protocol to the epoch cap: early stopping off (patience above the cap)
data="$OUT/synthetic"
$PY -m gait2hip.cli demo-data --out "$data" --subjects 60 --trials-per-speed 4 \
  > "$OUT/protocol.txt" 2>&1
echo '{"train.patience": 1000}' > "$OUT/no_early_stop.json"
start=$(date +%s)
pids=()
for model in lstm transformer mamba; do
  timeout "$PROTOCOL_LIMIT" $PY -m gait2hip.cli benchmark --data "$data/synthetic_MF.npz" \
    --target forces --profile paper --models "$model" --params "$OUT/no_early_stop.json" \
    --device "$DEVICE" --precision "$PRECISION" --workers 2 --no-progress \
    --out "$OUT/protocol/$model" \
    $( [ "$PROTOCOL_BATCHED" = 1 ] && echo --batched-folds ) \
    > "$OUT/protocol_$model.log" 2>&1 &
  pids+=($!)
done
for i in 0 1 2; do
  wait "${pids[$i]}"
  echo "model $i exit $? after $(( $(date +%s) - start )) s" >> "$OUT/protocol.txt"
done
echo "wall $(( $(date +%s) - start )) s (limit ${PROTOCOL_LIMIT} s)" >> "$OUT/protocol.txt"
echo "fits finished (of 18): $(find "$OUT/protocol" -name "fold*.pt" -o -name "final.pt" | wc -l)" \
  >> "$OUT/protocol.txt"
rm -rf "$OUT/cache" "$data"
