#!/usr/bin/env bash
# Call I on the H100: the streamed short-reduction 1×1 kernel (.gpu/ilb/stream, the working tree) against 2aae770
# (.gpu/ilb/scaled): first each build's outputs from two frames against ONNX Runtime (CPU) with compare.py (batch 1
# and 8: largest differences, detections agreeing), then tools/IlgpuBench/ab.sh on CenterNet and YOLOv8n.
# Usage: run-i.sh OUT LIMIT_S
out=$1; limit=$2
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
mkdir -p /tmp/acc
for v in scaled stream; do
  timeout 60 .gpu/ilb/$v/ilgpu-bench models/centernet-mnv3.onnx .gpu/final/frames /tmp/acc/$v --batches 1,8 > /tmp/acc/$v.log 2>&1
  timeout 60 python3 tools/IlgpuBench/compare.py models/centernet-mnv3.onnx /tmp/acc/$v /tmp/acc/compare-$v.json >> /tmp/acc/$v.log 2>&1
  echo "$v rc=$? ${SECONDS}s" >> /tmp/acc/status.txt
  tar czf "$out/accuracy.tgz" -C /tmp/acc --exclude='*.bin' .
done
TOTAL_S=$(( limit - SECONDS - 30 )) ROUNDS=2 BATCHES=1,32 bash tools/IlgpuBench/ab.sh "$out" .gpu/ilb/scaled .gpu/ilb/stream .gpu/final/frames models/centernet-mnv3.onnx yolov8n
