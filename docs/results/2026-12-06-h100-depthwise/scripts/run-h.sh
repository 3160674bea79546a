#!/usr/bin/env bash
# Call H on the H100: input-scaled GEMMs (squeeze-excite projections) offered to the tensor cores on per-image scaled
# weights (.gpu/ilb/scaled, the working tree) against a68d63c (.gpu/ilb/rows): tools/IlgpuBench/ab.sh on CenterNet,
# builds alternating, outputs compared, the new build profiled (its start-up tensor-core check now covers the scale).
# Usage: run-h.sh OUT LIMIT_S
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
TOTAL_S=$(( $2 - 30 )) ROUNDS=2 BATCHES=1,32 bash tools/IlgpuBench/ab.sh "$1" .gpu/ilb/rows .gpu/ilb/scaled .gpu/final/frames models/centernet-mnv3.onnx
