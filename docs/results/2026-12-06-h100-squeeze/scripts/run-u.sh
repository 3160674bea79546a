#!/usr/bin/env bash
# Call U: the ES-MoE model at batch 1 only: moedetect (a0c5dac, ilgpu) and every PyTorch row incl. the dense compiled one.
STEPS="moedetect torch merge" ENGINE=ilgpu MODELS=student BATCHES=1 TOTAL_S=230 MOEDETECT_CAP_S=40 TORCH_CAP_S=200 \
  TEACHER=.gpu/final/teacher/centernet.json scripts/gpu-bench .gpu/prod/bin .gpu/prod "$1"
nvidia-smi -L > "$1/gpu.txt"
