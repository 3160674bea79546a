#!/usr/bin/env bash
# One build, one engine switch off and on, on the GPU machine, from the repository root (docs/gpu-bench.md, "Tensor
# cores"): the same plans with SWITCH=0 and SWITCH=1 alternated, so their ratio holds on whatever card the call got.
#  1. ilgpu-bench kernels --tensor-cores-only on YOLOv8n at batch 32 (switch on): the GPU check of each tensor-core
#     kind, then every GEMM layer on each kind that takes it (ms, TFLOP/s, difference to the direct kernel).
#  2. ilgpu-bench profile --as-product, YOLOv8n and CenterNet, batches 1 and 32: off, on, on, off.
#  3. Accuracy against ONNX Runtime CPU (compare.py, the frames in BGR_DIR), switch on.
# OUT gets all.tgz (rewritten after every step: a call cut short still brings back what finished) and rc.txt.
#   tools/IlgpuBench/switch-ab.sh SWITCH OUT BIN_DIR BGR_DIR
#     SWITCH   an engine switch, e.g. MOEDETECT_ILGPU_ROW_SEGMENTS or MOEDETECT_ILGPU_FP16
#     BIN_DIR  holds ilgpu-bench (and ONNX Runtime's libonnxruntime.so, for step 3)
#     BGR_DIR  raw BGR frames <name>_<w>x<h>.bgr
#   Environment: TOTAL_S (300: steps that would start later are skipped).
set -uo pipefail
if [[ $# -lt 4 ]]; then sed -n '2,13p' "$0" >&2; exit 2; fi
switch=$1 final=$2 bin=$3 bgr=$4
out=$(mktemp -d /tmp/switch-ab.XXXXXX); mkdir -p "$final"
export LD_LIBRARY_PATH=$bin:/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
pack() { tar czf "$final/all.tgz" -C "$out" . 2>/dev/null; cp "$out/rc.txt" "$final/" 2>/dev/null; }
left() { (( SECONDS < ${TOTAL_S:-300} )) || { echo "skipped: $*" >> "$out/rc.txt"; return 1; }; }
note() { echo "$* ${SECONDS}s" >> "$out/rc.txt"; pack; }
nvidia-smi -L > "$out/gpu.txt" 2>&1
yolo=$out/yolov8n.onnx centernet=models/centernet-mnv3.onnx
timeout 60 python3 training/yolov8n.py --out "$yolo" > "$out/export.log" 2>&1; note "export rc $?"
if left kernels; then
  env "$switch=1" timeout 120 "$bin/ilgpu-bench" kernels "$yolo" "$out/kernels-yolov8n" --batches 32 --tensor-cores-only > "$out/kernels-yolov8n.log" 2>&1
  note "kernels rc $? $(grep -c tensor_core_check "$out/kernels-yolov8n.log") checks"
fi
whole() { echo "$(grep -o '"whole_run_ms": *[0-9.]*' "$1/profile_b1.json" | head -1) $(grep -o '"whole_run_ms": *[0-9.]*' "$1/profile_b32.json" | head -1)"; }
profile() {  # profile MODEL SWITCH_VALUE ROUND
  local run="$(basename "${1%.onnx}")-$2-$3"
  left "profile $run" || return
  env "$switch=$2" timeout 75 "$bin/ilgpu-bench" profile "$1" "$out/$run" --batches 1,32 --iterations 20 --as-product > "$out/$run.log" 2>&1
  note "profile $run rc $? $(whole "$out/$run")"
}
accuracy() {  # accuracy TAG MODEL
  left "accuracy $1" || return
  # Its inputs and outputs (large at batch 8) stay out of the archive.
  local outputs=$out.acc-$1
  env "$switch=1" timeout 45 "$bin/ilgpu-bench" "$2" "$bgr" "$outputs" --batches 1,8 > "$out/accuracy-$1.log" 2>&1
  timeout 40 python3 tools/IlgpuBench/compare.py "$2" "$outputs" "$out/compare-$1.json" >> "$out/accuracy-$1.log" 2>&1
  note "accuracy $1 rc $?"
}
for model in "$yolo" "$centernet"; do profile "$model" 0 1; profile "$model" 1 1; done
accuracy y "$yolo"; accuracy c "$centernet"
for model in "$yolo" "$centernet"; do profile "$model" 1 2; profile "$model" 0 2; done
pack
cat "$out/rc.txt"
