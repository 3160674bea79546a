#!/usr/bin/env bash
# A/B of two ilgpu-bench builds on the GPU machine, from the repository root: each model's network alone at BATCHES,
# builds alternated for ROUNDS rounds (same machine, so that their ratio holds), the launch search on; the outputs of
# round 1 compared with numpy; every launch of build B profiled. The device tool brings back only a few files, so OUT
# holds one archive, results.tgz, rewritten after every step: a call cut short still brings back what finished.
# Summarise with: mkdir R && tar xzf OUT/results.tgz -C R && tools/IlgpuBench/ab_table.py R
#   tools/IlgpuBench/ab.sh OUT A_DIR B_DIR FRAMES_DIR MODEL...
#     A_DIR, B_DIR  folders holding an ilgpu-bench each (docs/gpu-bench.md: publish one per commit)
#     FRAMES_DIR    raw BGR frames <name>_<w>x<h>.bgr
#     MODEL         an .onnx path, or yolov8n (exported there by training/yolov8n.py)
#   Environment: BATCHES (1,32), ROUNDS (2), ITERATIONS (20), TOTAL_S (330: steps that would start later are skipped),
#   EXTRA (more ilgpu-bench options, e.g. --cpu-accelerator for a smoke test without a GPU).
set -uo pipefail
if [[ $# -lt 5 ]]; then sed -n '2,12p' "$0" >&2; exit 2; fi
mkdir -p "$1"; archive=$1/results.tgz a=$2 b=$3 frames=$4; shift 4
work=$(mktemp -d /tmp/ilgpu-ab.XXXXXX); out=$work/results; mkdir -p "$out"
pack() { tar czf "$archive" -C "$out" .; }
nvidia-smi -L > "$out/gpu.txt" 2>&1
left() { (( SECONDS < ${TOTAL_S:-330} )) || { echo "skipped: $*" >> "$out/rc.txt"; return 1; }; }
model_path() {  # model_path MODEL: the .onnx to run (yolov8n exported once)
  if [[ $1 == yolov8n ]]; then
    [[ -f $work/yolov8n.onnx ]] || timeout 60 python3 training/yolov8n.py --out "$work/yolov8n.onnx" >> "$out/export.log" 2>&1
    echo "$work/yolov8n.onnx"
  else echo "$1"; fi
}
name_of() { basename "${1%.onnx}"; }
for round in $(seq 1 "${ROUNDS:-2}"); do
  for model in "$@"; do
    path=$(model_path "$model")
    for side in A B; do
      dir=$a; [[ $side == B ]] && dir=$b
      run="$side-r$round-$(name_of "$model")"
      left "$run" || continue
      start=$SECONDS
      timeout 90 "$dir/ilgpu-bench" "$path" "$frames" "$work/$run" --batches "${BATCHES:-1,32}" --iterations "${ITERATIONS:-20}" ${EXTRA:-} > "$out/$run.log" 2>&1
      echo "$run rc=$? $((SECONDS - start))s" >> "$out/rc.txt"
      cp "$work/$run/ilgpu-bench.json" "$out/$run.json" 2>/dev/null
      pack
    done
  done
done
python3 - "$work" > "$out/outputs.txt" 2>&1 <<'PY'
import glob, os, sys, numpy as np
for f in sorted(glob.glob(f"{sys.argv[1]}/A-r1-*/*_b*.bin")):
    if os.path.basename(f).startswith("input_"): continue
    g = f.replace("/A-r1-", "/B-r1-")
    if os.path.exists(g):
        x, y = np.fromfile(f, np.float32), np.fromfile(g, np.float32)
        diff = float(np.abs(x - y).max()) if x.shape == y.shape else "shapes differ"
        print(f.split("/")[-2][5:], os.path.basename(f), "max abs diff B vs A", diff, "max abs", float(np.abs(x).max()))
PY
for model in "$@"; do
  left "profile $model" || continue
  start=$SECONDS
  timeout 90 "$b/ilgpu-bench" profile "$(model_path "$model")" "$out/profile-B-$(name_of "$model")" --batches "${BATCHES:-1,32}" ${EXTRA:-} > "$out/profile-B-$(name_of "$model").log" 2>&1
  echo "profile $model rc=$? $((SECONDS - start))s" >> "$out/rc.txt"
  pack
done
pack
cat "$out/rc.txt" "$out/outputs.txt"
rm -rf "$work"
