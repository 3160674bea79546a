#!/usr/bin/env bash
# One device call, from the repository root on the GPU machine (call Y's recipe, docs/results/2026-12-08-h100-row-segments,
# made reusable): tools/IlgpuBench/switch-ab.sh SWITCH (the check and every YOLOv8n GEMM layer on each kind, with the
# direct kernels of short reductions; both models' plans with the switch off/on/on/off; accuracy against ONNX Runtime),
# then scripts/gpu-bench (the ILGPU product path against PyTorch eager and compiled), the product path with the output
# collector off and on, then the plan cost of a first run with and without the files a run keeps (launch choices,
# compiled kernels).
#   tools/IlgpuBench/gpu-call.sh SWITCH OUT [BUNDLE]
#     SWITCH  an engine switch, e.g. MOEDETECT_ILGPU_STAGED_WEIGHTS
#     BUNDLE  (.gpu/r) what the call carries: ilgpu-bench.xz and moedetect.xz (trimmed single-file publishes), ort.xz
#             (libonnxruntime.so), libonnxruntime_providers_shared.so, pedestrians-720p.avi, frames/frames-512.raw.xz
#             (moedetect bench --save-frames), teacher/centernet.{json,bin} (scripts/fetch-teacher)
#   Environment: AB_S (250), END_S (560), COLLECTOR_S (60), PLAN_S (90), MODELS (gpu-bench's, "yolov8n teacher student").
# OUT gets call.tgz (rewritten after every step: a call cut short still brings back what finished; the device tool
# brings back only a few files a call) holding ab/ (switch-ab.sh's all.tgz, rc.txt), bench.tgz, bench.log,
# collector.txt and collector-*.json, plan.txt and plan-*.json; and summary.txt, the lines that say how each went.
set -uo pipefail
if [[ $# -lt 2 ]]; then sed -n '2,15p' "$0" >&2; exit 2; fi
switch=$1 out=$2 src=${3:-.gpu/r} bin=/tmp/bin final=/tmp/call
mkdir -p $bin /tmp/bgr /tmp/frames /tmp/teacher "$final" "$out"
pack() { tar czf "$out/call.tgz" -C "$final" . 2>/dev/null; }
xz -dc $src/ilgpu-bench.xz > $bin/ilgpu-bench; xz -dc $src/moedetect.xz > $bin/moedetect
xz -dc $src/ort.xz > $bin/libonnxruntime.so; cp $src/libonnxruntime_providers_shared.so $bin/; chmod +x $bin/*
cp $src/frames/* /tmp/frames/; cp $src/teacher/* /tmp/teacher/
# Frames from the clip (the GPU machine's OpenCV is Python's): two raw BGR frames for the accuracy check, and eight
# letterboxed 640 × 640 canvases (centred on grey 114, as for Ultralytics exports) in bench's frames-file layout.
python3 - $src/pedestrians-720p.avi <<'PY' > "$final/frames.log" 2>&1
import struct, sys, cv2, numpy as np
c = cv2.VideoCapture(sys.argv[1]); frames = [c.read()[1] for _ in range(8)]
for i in range(2): frames[i].tofile(f'/tmp/bgr/ped{i}_1280x720.bgr')
with open('/tmp/frames/frames-640.raw', 'wb') as f:
    f.write(b'MDFRAMES' + struct.pack('<4i', 1, len(frames), 640, 640))
    for im in frames:
        h, w = im.shape[:2]; s = min(640 / w, 640 / h); nw, nh = round(w * s), round(h * s)
        canvas = np.full((640, 640, 3), 114, np.uint8); x, y = (640 - nw) // 2, (640 - nh) // 2
        canvas[y:y + nh, x:x + nw] = cv2.resize(im, (nw, nh), interpolation=cv2.INTER_LINEAR)
        f.write(struct.pack('<2i', w, h) + canvas.tobytes())
print('frames ok')
PY
# The A/B plans without the kept files (each process searches and compiles, as before they existed); the bench with
# them, as users run.
MOEDETECT_ILGPU_LAUNCH_CACHE=0 MOEDETECT_ILGPU_PTX_CACHE=0 TOTAL_S=${AB_S:-250} \
  tools/IlgpuBench/switch-ab.sh "$switch" "$final/ab" $bin /tmp/bgr > "$final/ab.log" 2>&1
pack
ENGINE=ilgpu MODELS="${MODELS:-yolov8n teacher student}" BATCHES=1,32 TOTAL_S=$(( ${END_S:-560} - ${PLAN_S:-90} - ${COLLECTOR_S:-60} - SECONDS )) MOEDETECT_CAP_S=45 \
  TORCH_CAP_S=120 TORCH_ENGINES=torch-eager,torch-compiled TEACHER=/tmp/teacher/centernet.json \
  scripts/gpu-bench $bin /tmp/frames /tmp/bench > "$final/bench.log" 2>&1
tar czf "$final/bench.tgz" -C /tmp/bench . 2>/dev/null
pack
# The output collector (IlgpuPixelEngine) off and on, alternated: YOLOv8n's product path at batch 32, same build.
export LD_LIBRARY_PATH=$bin:/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
yolo=$(ls /tmp/switch-ab.*/yolov8n.onnx | head -1)
for collector in 0 1 1 0; do
  (( SECONDS < ${END_S:-560} - ${PLAN_S:-90} - 15 )) || break
  report=/tmp/collector-$collector-$SECONDS.json
  MOEDETECT_ILGPU_OUTPUT_COLLECTOR=$collector timeout 30 $bin/moedetect bench --device gpu --engine ilgpu --model "$yolo" --batch 32 \
    --frames 1024 --frames-file /tmp/frames/frames-640.raw --json $report > /dev/null 2>&1
  echo "collector $collector rc $? $(grep -o '"frames_per_second": *[0-9.]*' $report) ${SECONDS}s" >> "$final/collector.txt"
  cp $report "$final/" 2>/dev/null
  pack
done
# Plan cost: YOLOv8n's first run at batches 1 and 32, one process a step, files of their own. fresh: neither file;
# write: both written; launches: the launch choices read, every kernel compiled; both: both read; fresh again. Each
# line has first_run_ms_incl_plan and the kernels that run compiled and read (first_run_kernels_compiled, _read).
for step in fresh-1 write launches both fresh-2; do
  (( SECONDS < ${END_S:-560} - 15 )) || break
  launches=/tmp/plan-launches.json ptx=/tmp/plan-ptx
  [[ $step == fresh-* ]] && launches=0 ptx=0
  [[ $step == launches ]] && ptx=0
  MOEDETECT_ILGPU_LAUNCH_CACHE=$launches MOEDETECT_ILGPU_PTX_CACHE=$ptx timeout 40 $bin/ilgpu-bench "$yolo" /tmp/bgr /tmp/plan-$step \
    --batches 1,32 --iterations 5 > "$final/plan-$step.log" 2>&1
  echo "plan $step rc $? $(grep -o '"first_run_[a-z_]*": *[0-9.]*' /tmp/plan-$step/ilgpu-bench.json | tr '\n' ' ') ${SECONDS}s" >> "$final/plan.txt"
  cp /tmp/plan-$step/ilgpu-bench.json "$final/plan-$step.json" 2>/dev/null
  pack
done
ls /tmp/plan-ptx 2>/dev/null | wc -l | sed 's/^/compiled kernels kept: /' >> "$final/plan.txt"
pack
{ cat "$final/ab/rc.txt" "$final/collector.txt" "$final/plan.txt"; sed -n '/^| model/,$p' /tmp/bench/gpu-bench.md 2>/dev/null | head -40; } \
  2>/dev/null | tee "$out/summary.txt"
