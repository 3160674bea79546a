#!/usr/bin/env bash
# Call T: CenterNet outputs of A (836cc74) and B (a0c5dac) at batch 1 and 8 against ONNX Runtime (CPU), compare.py.
out=$1
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
chmod +x .gpu/c2/A/ilgpu-bench .gpu/c2/B/ilgpu-bench
mkdir -p /tmp/frames /tmp/acc && xz -dc .gpu/c2/frames/coco0_1280x720.bgr.xz > /tmp/frames/coco0_1280x720.bgr
nvidia-smi -L > $out/gpu.txt
for side in A B; do
  timeout 60 .gpu/c2/$side/ilgpu-bench models/centernet-mnv3.onnx /tmp/frames /tmp/acc/$side --batches 1,8 > /tmp/acc/$side.log 2>&1
  timeout 90 python3 tools/IlgpuBench/compare.py models/centernet-mnv3.onnx /tmp/acc/$side /tmp/acc/compare-$side.json >> /tmp/acc/$side.log 2>&1
  echo "$side rc=$? ${SECONDS}s" >> /tmp/acc/status.txt
  tar czf "$out/accuracy.tgz" -C /tmp/acc --exclude='*.bin' .
done
cat /tmp/acc/status.txt; cat /tmp/acc/compare-*.json | head -c 1500
