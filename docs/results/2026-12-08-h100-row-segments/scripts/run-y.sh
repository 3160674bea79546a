#!/usr/bin/env bash
# Row segments on the GPU, one call: tools/IlgpuBench/switch-ab.sh MOEDETECT_ILGPU_ROW_SEGMENTS (the check and every
# YOLOv8n GEMM layer on each tensor-core kind, both models' plans with row segments off/on/on/off, accuracy against
# ONNX Runtime), then scripts/gpu-bench (ILGPU product path, row segments on) against PyTorch eager and compiled.
# Carry .gpu/r (builds, ONNX Runtime, the pedestrians clip, 512 frames, the teacher's files). Usage: run.sh OUT
set -uo pipefail
final=$1 src=.gpu/r bin=/tmp/bin
mkdir -p $bin /tmp/bgr /tmp/frames /tmp/teacher "$final"
xz -dc $src/ilgpu-bench.xz > $bin/ilgpu-bench; xz -dc $src/moedetect.xz > $bin/moedetect
xz -dc $src/ort.xz > $bin/libonnxruntime.so; cp $src/libonnxruntime_providers_shared.so $bin/; chmod +x $bin/*
cp $src/frames/* /tmp/frames/; cp $src/teacher/* /tmp/teacher/
# Frames from the clip (no OpenCV native library here): two raw BGR frames for the accuracy check, and eight
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
# The launch choice file stays off for the A/B and the bench (timed as before it existed); the last step times it.
export MOEDETECT_ILGPU_LAUNCH_CACHE=0
TOTAL_S=${AB_S:-250} tools/IlgpuBench/switch-ab.sh MOEDETECT_ILGPU_ROW_SEGMENTS "$final/ab" $bin /tmp/bgr > "$final/ab.log" 2>&1
ENGINE=ilgpu MODELS="${MODELS:-yolov8n teacher student}" BATCHES=1,32 TOTAL_S=$(( ${END_S:-560} - ${PLAN_S:-75} - SECONDS )) MOEDETECT_CAP_S=45 \
  TORCH_CAP_S=120 TORCH_ENGINES=torch-eager,torch-compiled TEACHER=/tmp/teacher/centernet.json \
  scripts/gpu-bench $bin /tmp/frames /tmp/bench > "$final/bench.log" 2>&1
tar czf "$final/bench.tgz" -C /tmp/bench . 2>/dev/null
# Plan cost with the launch choice file: YOLOv8n at batches 1 and 32, a file of its own: no file (0), first run (the
# search times and writes), second run (plans from the file), no file again. first_run_ms_incl_plan of each.
export LD_LIBRARY_PATH=$bin:/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
yolo=$(ls /tmp/switch-ab.*/yolov8n.onnx | head -1)
for step in none-1 file-1 file-2 none-2; do
  (( SECONDS < ${END_S:-560} - 15 )) || break
  cache=/tmp/launches.json; [[ $step == none-* ]] && cache=0
  MOEDETECT_ILGPU_LAUNCH_CACHE=$cache timeout 40 $bin/ilgpu-bench "$yolo" /tmp/bgr /tmp/plan-$step --batches 1,32 --iterations 5 > "$final/plan-$step.log" 2>&1
  echo "plan $step rc $? $(grep -o '"first_run_ms_incl_plan": *[0-9.]*' /tmp/plan-$step/ilgpu-bench.json | tr '\n' ' ') ${SECONDS}s" >> "$final/plan.txt"
  cp /tmp/plan-$step/ilgpu-bench.json "$final/plan-$step.json" 2>/dev/null
done
cp /tmp/launches.json "$final/" 2>/dev/null
cat "$final/ab/rc.txt" "$final/plan.txt"; sed -n '/^| model/,$p' /tmp/bench/gpu-bench.md 2>/dev/null | head -40
