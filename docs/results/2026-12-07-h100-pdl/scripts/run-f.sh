#!/usr/bin/env bash
# Call F: the product path with programmatic launch on by default (wait only, as chosen from call E) against PyTorch on
# the same machine: scripts/gpu-bench with the ILGPU engine on the CenterNet teacher and YOLOv8n at batches 1 and 32
# (PyTorch eager FP16 and compiled with CUDA graphs). Then, while time is left, the product path at batch 1 with
# programmatic launch on (default) and off (MOEDETECT_PROGRAMMATIC_LAUNCH=0), alternated. Cut to fit the session's last
# device time. Carry .gpu/f: bin/ (moedetect, ort.xz, libonnxruntime_providers_shared.so), frames-512.raw.xz and
# frames-640.raw.xz (bench --save-frames), teacher/.
out=$1
ENGINE=ilgpu MODELS='teacher yolov8n' BATCHES=1,32 TOTAL_S=255 MOEDETECT_CAP_S=60 TORCH_CAP_S=130 \
  TORCH_ENGINES=sparse-eager,dense-compiled,torch-eager,torch-compiled \
  TEACHER=.gpu/f/teacher/centernet.json scripts/gpu-bench .gpu/f/bin .gpu/f "$out"
nvidia-smi -L > "$out/gpu.txt"
grep -h "exit\|skipped" "$out/gpu-bench.log" | tail -20
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
xz -dc .gpu/f/frames-512.raw.xz > /tmp/f512.raw; xz -dc .gpu/f/frames-640.raw.xz > /tmp/f640.raw
timeout 60 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > /dev/null 2>&1
ab() {  # ab NAME MODEL FRAMES ROUND
  for pdl in 1 0; do
    (( SECONDS < 270 )) || { echo "skipped: $1 $pdl $4"; continue; }
    MOEDETECT_PROGRAMMATIC_LAUNCH=$pdl timeout 40 .gpu/f/bin/moedetect bench --device gpu --engine ilgpu --model "$2" \
      --frames-file "$3" --batch 1 --frames 512 --json /tmp/ab.json >> "$out/ab.log" 2>&1
    echo "{\"model\": \"$1\", \"programmatic\": $pdl, \"round\": $4, \"report\": $(cat /tmp/ab.json)}" >> "$out/ab.jsonl"
    echo "$1 b1 programmatic=$pdl round $4: median $(grep -o '"stage_median_ms": {[^}]*}' /tmp/ab.json | grep -o '"inference": [0-9.]*') ${SECONDS}s"
    rm -f /tmp/ab.json
  done
}
ab centernet models/centernet-mnv3.onnx /tmp/f512.raw 1
ab yolov8n /tmp/yolov8n.onnx /tmp/f640.raw 1
ab centernet models/centernet-mnv3.onnx /tmp/f512.raw 2
cat "$out/gpu-bench.md" 2>/dev/null | head -40
