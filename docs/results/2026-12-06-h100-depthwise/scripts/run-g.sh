#!/usr/bin/env bash
# Call G on the H100: the 16-byte depthwise kernel (.gpu/ilb/rows, the working tree) against f219d4b (.gpu/ilb/head).
# 1. CenterNet's convolutions alone on the rows build (ilgpu-bench kernels: each depthwise layer on the 16-byte kernel,
#    the span kernel and, where it fits, the shared-memory one, each against the direct kernel);
# 2. tools/IlgpuBench/ab.sh: CenterNet's whole plan from two frames, builds alternating, outputs compared, rows profiled.
# Usage: run-g.sh OUT LIMIT_S   (from the repository root; OUT gets kernels.tgz and results.tgz)
out=$1; limit=$2
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
start=$SECONDS
mkdir -p /tmp/k
timeout 120 .gpu/ilb/rows/ilgpu-bench kernels models/centernet-mnv3.onnx /tmp/k --batches 1,32 --iterations 10 > /tmp/k/kernels.log 2>&1
echo "kernels rc=$? $((SECONDS - start))s" >> /tmp/k/status.txt
tar czf "$out/kernels.tgz" -C /tmp/k .
TOTAL_S=$(( limit - (SECONDS - start) - 40 )) ROUNDS=2 BATCHES=1,32 bash tools/IlgpuBench/ab.sh "$out" .gpu/ilb/head .gpu/ilb/rows .gpu/final/frames models/centernet-mnv3.onnx
