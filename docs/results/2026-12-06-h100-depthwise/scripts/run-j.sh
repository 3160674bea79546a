#!/usr/bin/env bash
# Call J on the H100: the streamed short-reduction 1×1 kernel, second form (each thread keeps 16 input channels in registers across its out-channel blocks) (.gpu/ilb/stream, the working tree) against 2aae770
# (.gpu/ilb/scaled): tools/IlgpuBench/ab.sh on CenterNet and YOLOv8n.
# Usage: run-j.sh OUT LIMIT_S
out=$1; limit=$2
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
TOTAL_S=$(( limit - SECONDS - 30 )) ROUNDS=2 BATCHES=1,32 bash tools/IlgpuBench/ab.sh "$out" .gpu/ilb/scaled .gpu/ilb/stream .gpu/final/frames models/centernet-mnv3.onnx yolov8n
