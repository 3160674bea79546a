#!/usr/bin/env bash
# Call V: the ES-MoE model's routed run profiled piece by piece (random frames, batch 1 and 32) with A = a0c5dac and
# B = the written-out bilinear ×2 as one Resize per axis (UpsampleFusion).
out=$1
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
chmod +x .gpu/c4/A/ilgpu-bench .gpu/c4/B/ilgpu-bench
mkdir -p /tmp/ort && xz -dc .gpu/c4/ort.xz > /tmp/ort/libonnxruntime.so
export LD_LIBRARY_PATH=/tmp/ort:$LD_LIBRARY_PATH
nvidia-smi -L > $out/gpu.txt
for side in A B; do
  timeout 80 .gpu/c4/$side/ilgpu-bench profile models/esmoe-centernet.moedet $out/student-$side --batches 1,32 --iterations 20 > $out/student-$side.log 2>&1
  echo "student $side rc $? ${SECONDS}s" >> $out/rc.txt
done
cat $out/rc.txt
