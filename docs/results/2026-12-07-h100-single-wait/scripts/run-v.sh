#!/usr/bin/env bash
# Call V: the final build's product path against PyTorch eager and compiled at batch 1, YOLOv8n and CenterNet, in one
# call (scripts/gpu-bench). Carry .gpu/u (new moedetect) and .gpu/t (ORT, canvases). Usage: run-v.sh OUT
final=$1; mkdir -p /tmp/b /tmp/frames /tmp/vout
xz -dc .gpu/u/bin/moedetect.xz > /tmp/b/moedetect; xz -dc .gpu/t/ort.xz > /tmp/b/libonnxruntime.so
cp .gpu/t/libonnxruntime_providers_shared.so /tmp/b/; chmod +x /tmp/b/*
xz -dc .gpu/t/frames-640.raw.xz > /tmp/frames/frames-640.raw; xz -dc .gpu/v/frames-512.raw.xz > /tmp/frames/frames-512.raw
nvidia-smi -L > /tmp/vout/gpu.txt
ENGINE=ilgpu MODELS="yolov8n teacher" BATCHES=1 TOTAL_S=${TOTAL_S:-200} MOEDETECT_CAP_S=40 TORCH_CAP_S=100 \
  TORCH_ENGINES=torch-eager,torch-compiled TEACHER=.gpu/v/teacher/centernet.json scripts/gpu-bench /tmp/b /tmp/frames /tmp/vout/bench > /tmp/vout/bench.log 2>&1
echo "gpu-bench rc $? ${SECONDS}s" > /tmp/vout/rc.txt
tar czf $final/all.tgz -C /tmp/vout .
cat /tmp/vout/rc.txt; sed -n '/^| model/,$p' /tmp/vout/bench/gpu-bench.md | head -24
