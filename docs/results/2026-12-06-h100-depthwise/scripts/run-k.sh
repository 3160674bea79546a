#!/usr/bin/env bash
# Call K on the H100: Resize at 4 outputs a thread (.gpu/ilb/resize, the working tree) against 2aae770 (.gpu/ilb/scaled):
# tools/IlgpuBench/ab.sh on CenterNet (its three bilinear ×2 upsamplings), one round, outputs compared, new build profiled.
# Usage: run-k.sh OUT LIMIT_S
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
TOTAL_S=$(( $2 - 25 )) ROUNDS=1 BATCHES=1,32 bash tools/IlgpuBench/ab.sh "$1" .gpu/ilb/scaled .gpu/ilb/resize .gpu/final/frames models/centernet-mnv3.onnx
