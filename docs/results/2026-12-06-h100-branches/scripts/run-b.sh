#!/usr/bin/env bash
# Call B: the product path with CUDA graph branches (moedetect bench --device gpu --engine ilgpu, branches on: the
# default) on the ES-MoE model, the CenterNet teacher and YOLOv8n against PyTorch on the same machine (ES-MoE: sparse
# eager FP16 and the dense model compiled with CUDA graphs; CenterNet and YOLOv8n: eager FP16 and compiled with CUDA
# graphs), batches 1 and 32; then moedetect again with MOEDETECT_GRAPH_BRANCHES=0 (graphs in plan order), merged with
# the same PyTorch rows.
out=$1
ENGINE=ilgpu MODELS='student teacher yolov8n' BATCHES=1,32 TOTAL_S=380 MOEDETECT_CAP_S=60 TORCH_CAP_S=130 \
  TORCH_ENGINES=sparse-eager,dense-compiled,torch-eager,torch-compiled \
  TEACHER=.gpu/final/teacher/centernet.json scripts/gpu-bench .gpu/prod/bin .gpu/prod "$out/on"
mkdir -p "$out/off" && cp "$out/on/torch.jsonl" "$out/off/"
MOEDETECT_GRAPH_BRANCHES=0 ENGINE=ilgpu MODELS='student teacher yolov8n' BATCHES=1,32 TOTAL_S=150 MOEDETECT_CAP_S=60 \
  STEPS="export moedetect merge" TEACHER=.gpu/final/teacher/centernet.json scripts/gpu-bench .gpu/prod/bin .gpu/prod "$out/off"
nvidia-smi -L > "$out/gpu.txt"
grep -h "exit\|skipped" "$out"/*/gpu-bench.log | tail -20
