#!/usr/bin/env bash
# Call N on the H100: tap-major implicit GEMMs on tensor cores (.gpu/ilb/B, the working tree) against 5b881d3
# (.gpu/ilb/A). 1. The GEMM layers of YOLOv8n alone (ilgpu-bench kernels --tensor-cores-only: the start-up check, then
# each layer on tensor cores with its difference to the direct FP32 kernel). 2. Each build's YOLOv8n outputs at batch 1
# against ONNX Runtime (CPU), compare.py. 3. tools/IlgpuBench/ab.sh on CenterNet and YOLOv8n.
# Usage: run-n.sh OUT LIMIT_S
out=$1; limit=$2
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
mkdir -p "$out/kernels" /tmp/acc
work=$(mktemp -d /tmp/n.XXXXXX)
timeout 60 python3 training/yolov8n.py --out "$work/yolov8n.onnx" > "$out/kernels/export.log" 2>&1
for side in A B; do
  timeout 80 .gpu/ilb/$side/ilgpu-bench kernels "$work/yolov8n.onnx" "$out/kernels/$side-yolov8n" --batches 1,32 --tensor-cores-only > "$out/kernels/$side-yolov8n.log" 2>&1
  echo "kernels $side rc=$? ${SECONDS}s" >> "$out/kernels/rc.txt"
done
for side in A B; do
  timeout 60 .gpu/ilb/$side/ilgpu-bench "$work/yolov8n.onnx" .gpu/final/frames /tmp/acc/$side --batches 1 > /tmp/acc/$side.log 2>&1
  timeout 90 python3 tools/IlgpuBench/compare.py "$work/yolov8n.onnx" /tmp/acc/$side /tmp/acc/compare-$side.json >> /tmp/acc/$side.log 2>&1
  echo "$side rc=$? ${SECONDS}s" >> /tmp/acc/status.txt
  tar czf "$out/accuracy.tgz" -C /tmp/acc --exclude='*.bin' .
done
TOTAL_S=$(( limit - SECONDS - 30 )) ROUNDS=2 BATCHES=1,32 bash tools/IlgpuBench/ab.sh "$out/ab" .gpu/ilb/A .gpu/ilb/B .gpu/final/frames models/centernet-mnv3.onnx yolov8n
