#!/usr/bin/env bash
# The GPU measurements of the local backend in one run: decode tokens/s (ours, plain `generate`, compiled
# decode) against the memory-bandwidth bound, time to first token, prefix reuse, stop-string cost, on random
# weights in the shapes of Qwen2.5-7B, Qwen-7B and Qwen2.5-0.5B (bf16). Needs one CUDA GPU and
# `pip install '.[local]'`; writes each shape's table to stdout and to ${OUT:-.}/gpu_throughput_<shape>.md.
#     bash benchmarks/perf/gpu_throughput.sh            # about 6-8 minutes on one H100/H200
set -u
out=${OUT:-.}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
status=0
for spec in "qwen2.5-7b 180" "qwen-7b 150" "qwen2.5-0.5b 90"; do
  set -- $spec
  echo "== shape $1 =="
  # A shape that runs past its share is cut off so the others still run; the exit status says so.
  timeout "$2" python3 -m benchmarks.throughput --shape "$1" --device cuda --tokens 64 --repeats 3 \
    --prompt-tokens 2048 2>&1 | grep -v '^W[0-9]' | tee "$out/gpu_throughput_$1.md"
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "shape $1 did not finish"; status=1; }
done
exit $status
