#!/usr/bin/env bash
# Call E: the product path of this build (moedetect bench --device gpu --engine ilgpu) on the ES-MoE model, the
# CenterNet teacher and YOLOv8n against PyTorch on the same machine (ES-MoE: sparse eager FP16 and the dense model
# compiled with CUDA graphs; CenterNet and YOLOv8n: eager FP16 and compiled with CUDA graphs), batches 1 and 32. Then
# CenterNet at batch 1 with CUDA graph branches on and off, twice each, means and medians per stage (c.jsonl).
out=$1
ENGINE=ilgpu MODELS='student teacher yolov8n' BATCHES=1,32 TOTAL_S=420 MOEDETECT_CAP_S=60 TORCH_CAP_S=130 \
  TORCH_ENGINES=sparse-eager,dense-compiled,torch-eager,torch-compiled \
  TEACHER=.gpu/final/teacher/centernet.json scripts/gpu-bench .gpu/e/bin .gpu/e "$out"
nvidia-smi -L > "$out/gpu.txt"
grep -h "exit\|skipped" "$out/gpu-bench.log" | tail -20
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
frames=/tmp/f512.raw; xz -dc .gpu/e/frames-512.raw.xz > $frames
for r in 1 2; do for br in 1 0; do
  MOEDETECT_GRAPH_BRANCHES=$br timeout 40 .gpu/e/bin/moedetect bench --device gpu --engine ilgpu --model models/centernet-mnv3.onnx \
    --frames-file "$frames" --batch 1 --frames 512 --json /tmp/c.json >> "$out/c.log" 2>&1
  echo "{\"branches\": $br, \"round\": $r, \"report\": $(cat /tmp/c.json)}" >> "$out/c.jsonl"
  echo "centernet b1 branches=$br round $r: $(grep -o '"stage_ms": {[^}]*}' /tmp/c.json | grep -o '"inference": [0-9.]*') median $(grep -o '"stage_median_ms": {[^}]*}' /tmp/c.json | grep -o '"inference": [0-9.]*')"
done; done
