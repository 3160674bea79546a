#!/usr/bin/env bash
# Call R on the GPU machine: the product path of a0c5dac (moedetect bench --device gpu --engine ilgpu) against PyTorch
# (eager FP16, torch.compile with CUDA graphs) on three models, as call P did for eb6f360 (scripts/gpu-bench;
# .gpu/prod holds the trimmed moedetect, ONNX Runtime's CPU library and the frames).
# Usage: run-r.sh OUT
ENGINE=ilgpu MODELS='yolov8n teacher student' TOTAL_S=420 MOEDETECT_CAP_S=50 TORCH_CAP_S=130 TEACHER=.gpu/final/teacher/centernet.json \
  scripts/gpu-bench .gpu/prod/bin .gpu/prod "$1"
nvidia-smi -L > "$1/gpu.txt"
