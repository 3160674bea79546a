#!/usr/bin/env bash
# Call M on the H100: the tensor-core GEMM with a ring of four 16-row stages (.gpu/ilb/B, the working tree) against
# two 32-row stages (.gpu/ilb/A, 5b881d3). First the GEMM layers alone (ilgpu-bench kernels --tensor-cores-only:
# tensor-core outputs checked against the SIMT kernel's, then timed), then tools/IlgpuBench/ab.sh on CenterNet and
# YOLOv8n (whole networks alternating, outputs compared, B profiled).
# Usage: run-m.sh OUT LIMIT_S
out=$1; limit=$2
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
mkdir -p "$out/kernels"
work=$(mktemp -d /tmp/m.XXXXXX)
timeout 60 python3 training/yolov8n.py --out "$work/yolov8n.onnx" > "$out/kernels/export.log" 2>&1
for side in A B; do
  timeout 80 .gpu/ilb/$side/ilgpu-bench kernels "$work/yolov8n.onnx" "$out/kernels/$side-yolov8n" --batches 1,32 --tensor-cores-only > "$out/kernels/$side-yolov8n.log" 2>&1
  echo "kernels $side rc=$?" >> "$out/kernels/rc.txt"
done
TOTAL_S=$(( limit - SECONDS - 30 )) ROUNDS=2 BATCHES=1,32 bash tools/IlgpuBench/ab.sh "$out/ab" .gpu/ilb/A .gpu/ilb/B .gpu/final/frames models/centernet-mnv3.onnx yolov8n
