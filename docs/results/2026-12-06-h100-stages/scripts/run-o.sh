#!/usr/bin/env bash
# Call O on the H100: 27826e6, tap-major implicit GEMMs with both orders timed (.gpu/ilb/B), against the working tree,
# the tensor-core GEMM reading its operands as 8- and 16-byte shared-memory loads (.gpu/ilb/C); 5b881d3 stays home (the
# carried files must stay under 64 MiB). 1. YOLOv8n's GEMM layers alone on tensor cores, B and C (ilgpu-bench kernels
# --tensor-cores-only: the start-up check, then each layer with its difference to the direct FP32 kernel). 2. C's
# outputs against ONNX Runtime (CPU), CenterNet batch 1 and 8, YOLOv8n batch 1 (compare.py). 3. tools/IlgpuBench/ab.sh
# B against C on CenterNet and YOLOv8n.
# Usage: run-o.sh OUT LIMIT_S
out=$1; limit=$2
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
mkdir -p "$out/kernels" /tmp/acc
work=$(mktemp -d /tmp/o.XXXXXX)
timeout 60 python3 training/yolov8n.py --out "$work/yolov8n.onnx" > "$out/kernels/export.log" 2>&1
for side in B C; do
  timeout 80 .gpu/ilb/$side/ilgpu-bench kernels "$work/yolov8n.onnx" "$work/k-$side" --batches 1,32 --tensor-cores-only > "$out/kernels/$side-yolov8n.log" 2>&1
  echo "kernels $side rc=$? ${SECONDS}s" >> "$out/kernels/rc.txt"
done
for model in models/centernet-mnv3.onnx "$work/yolov8n.onnx"; do
  name=$(basename "${model%.onnx}"); batches=1,8; [[ $name == yolov8n ]] && batches=1
  timeout 60 .gpu/ilb/C/ilgpu-bench "$model" .gpu/final/frames /tmp/acc/C-$name --batches $batches > /tmp/acc/C-$name.log 2>&1
  timeout 90 python3 tools/IlgpuBench/compare.py "$model" /tmp/acc/C-$name /tmp/acc/compare-C-$name.json >> /tmp/acc/C-$name.log 2>&1
  echo "C $name rc=$? ${SECONDS}s" >> /tmp/acc/status.txt
  tar czf "$out/accuracy.tgz" -C /tmp/acc --exclude='*.bin' .
done
TOTAL_S=$(( limit - SECONDS - 30 )) ROUNDS=2 BATCHES=1,32 bash tools/IlgpuBench/ab.sh "$out/ab" .gpu/ilb/B .gpu/ilb/C .gpu/final/frames models/centernet-mnv3.onnx yolov8n
