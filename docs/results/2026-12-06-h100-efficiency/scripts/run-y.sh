#!/usr/bin/env bash
# Call Y: the product path of 7f87144 + bench efficiency (moedetect bench --device gpu --engine ilgpu) on the ES-MoE model, the CenterNet
# teacher and YOLOv8n against PyTorch on the same machine (ES-MoE: sparse eager FP16 and the dense model compiled with
# CUDA graphs; CenterNet and YOLOv8n: eager FP16 and compiled with CUDA graphs), batches 1 and 32.
ENGINE=ilgpu MODELS='student teacher yolov8n' BATCHES=1,32 TOTAL_S=470 MOEDETECT_CAP_S=60 TORCH_CAP_S=170 \
  TORCH_ENGINES=sparse-eager,dense-compiled,torch-eager,torch-compiled \
  TEACHER=.gpu/final/teacher/centernet.json scripts/gpu-bench .gpu/prod/bin .gpu/prod "$1"
nvidia-smi -L > "$1/gpu.txt"
