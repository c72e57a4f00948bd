#!/usr/bin/env bash
# GPU check (issue 6): on a machine with a CUDA GPU, run the speed benchmark (paper preset, fp32 and bf16 +
# channels_last, the latter measured side by side against the same step without the fast path) and a short
# paper-preset training on the embedded sample (3-minute budget; meant to take < 5 min in all, not yet timed on
# a GPU), then print one table.
# Usage:  bash benchmarks/gpu_check.sh [OUT_DIR]   (default benchmarks/results/gpu)
# Env: PYTHON (default .venv/bin/python, else python3), TRAIN_MINUTES (default 3), NPROC (GPUs for a torchrun
# training run after the single-GPU one; default 0 = skip), COMPILE=1 (a third speed run with torch.compile).
# Dry run of the same flow without a GPU (what tests/test_speed.py does, at tiny sizes):
#   DEVICE=cpu PRESET=quick ROUNDS=1 BATCH=32 TRAIN_MINUTES=0.01 DATA=npz:PATH bash benchmarks/gpu_check.sh OUT
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/results/gpu}
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
MIN=${TRAIN_MINUTES:-3}
NPROC=${NPROC:-0}
DEVICE=${DEVICE:-cuda}
PRESET=${PRESET:-paper}
ROUNDS=${ROUNDS:-20}
DATA=${DATA:-sample}
BATCH=${BATCH:-}  # the speed runs' batch (default: the preset's)
mkdir -p "$OUT"

if [ "$DEVICE" = cuda ]; then
  "$PY" - <<'PYEOF'
import sys, torch
if not torch.cuda.is_available():
    sys.exit("gpu_check: no CUDA GPU visible (torch %s): run this on a GPU machine" % torch.__version__)
print(f"GPU: {torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}, torch {torch.__version__}, "
      f"CUDA {torch.version.cuda}")
PYEOF
fi

speed() {
  "$PY" benchmarks/speed.py --preset "$PRESET" --device "$DEVICE" --data "$DATA" --rounds "$ROUNDS" \
    ${BATCH:+--batch-size "$BATCH"} "$@"
}
speed --out "$OUT/speed_fp32.json"
speed --amp --channels-last --out "$OUT/speed_bf16.json"
rm -f "$OUT/speed_compile.json"
if [ "${COMPILE:-0}" = 1 ]; then
  speed --amp --channels-last --compile --out "$OUT/speed_compile.json"
fi

cat > "$OUT/paper_fast.yaml" <<YAMLEOF
data: {spec: "$DATA"}
train: {max_minutes: $MIN, amp: true, channels_last: true}
YAMLEOF
rm -rf "$OUT/paper_run" "$OUT/paper_ddp"
"$PY" -m semready.cli train --out "$OUT/paper_run" --preset "$PRESET" --device "$DEVICE" --config "$OUT/paper_fast.yaml" \
  --quiet
"$PY" -m semready.cli evaluate "$OUT/paper_run" --data "$DATA" > /dev/null

if [ "$NPROC" -gt 1 ]; then
  "$PY" -m torch.distributed.run --standalone --nproc_per_node "$NPROC" -m semready.cli train \
    --out "$OUT/paper_ddp" --preset "$PRESET" --device "$DEVICE" --config "$OUT/paper_fast.yaml" --quiet
fi

"$PY" - "$OUT" <<'PYEOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = []
for name in ("speed_fp32", "speed_bf16", "speed_compile"):
    if not (out / f"{name}.json").is_file():
        continue
    r = json.loads((out / f"{name}.json").read_text())
    p = r["phases"]
    plain = r.get("full_over_plain_full_time_ratio")
    rows.append((name, f"{p['minimal']['images_per_s']:.0f}", f"{p['full']['images_per_s']:.0f}",
                 f"{p['views']['images_per_s']:.0f}", f"{p['routing']['images_per_s']:.0f}",
                 f"{r['full_over_minimal_time_ratio']:.3f}", f"{r['views_over_step_throughput_ratio']:.1f}",
                 f"{r['routing_over_bare_inference_throughput_ratio']:.3f}",
                 f"{plain:.3f}" if plain is not None else "-", f"{p['full']['peak_mib']:.0f}"))
print("\n| run | minimal img/s | full img/s | views img/s | routing img/s | full/minimal | views/step "
      "| routing/bare | full/same step without fast path | full-step peak MiB |")
print("|---|---|---|---|---|---|---|---|---|---|")
for row in rows:
    print("| " + " | ".join(row) + " |")
for run in ("paper_run", "paper_ddp"):
    if not (out / run / "state.json").is_file():
        continue
    log = json.loads((out / run / "state.json").read_text())["log"]
    metrics = out / run / "metrics.json"
    m = json.loads(metrics.read_text())["cluster_head"] if metrics.is_file() else None
    score = f"ACC/NMI/ARI {m['acc']:.3f}/{m['nmi']:.3f}/{m['ari']:.3f}" if m else "not evaluated"
    print(f"{run}: {len(log)} epochs in {sum(r['seconds'] for r in log) / 60:.1f} min on "
          f"{log[-1].get('processes', 1)} process(es), {log[-1]['images_per_s']:.0f} img/s (last epoch), "
          f"marginal entropy {log[-1]['marginal_entropy']:.3f}, {score}")
PYEOF
