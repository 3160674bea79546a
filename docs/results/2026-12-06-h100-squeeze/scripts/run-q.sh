#!/usr/bin/env bash
# Call Q: A = 836cc74, B = squeeze fusion of every size (no threshold yet) + router logits through page-locked memory.
# Call S ran it again with B = a0c5dac (the committed build).
# CenterNet network A/B (b1, b32, tools/IlgpuBench/ab.sh); the student's routed run profiled with A and B (b1, b32).
# OUT gets ab/results.tgz, student-A/B dirs and logs.
out=$1
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
chmod +x .gpu/c2/A/ilgpu-bench .gpu/c2/B/ilgpu-bench
mkdir -p /tmp/frames /tmp/ort && xz -dc .gpu/c2/frames/coco0_1280x720.bgr.xz > /tmp/frames/coco0_1280x720.bgr
xz -dc .gpu/c2/ort.xz > /tmp/ort/libonnxruntime.so
ROUNDS=2 BATCHES=1,32 TOTAL_S=200 bash tools/IlgpuBench/ab.sh $out/ab .gpu/c2/A .gpu/c2/B /tmp/frames models/centernet-mnv3.onnx > $out/ab.log 2>&1
export LD_LIBRARY_PATH=/tmp/ort:$LD_LIBRARY_PATH
for side in A B; do
  timeout 100 .gpu/c2/$side/ilgpu-bench profile models/esmoe-centernet.moedet $out/student-$side --batches 1,32 --iterations 20 > $out/student-$side.log 2>&1
  echo "student $side rc $?" >> $out/student-$side.log
done
tail -3 $out/ab.log; for f in $out/student-*.log; do tail -n 2 $f; done
