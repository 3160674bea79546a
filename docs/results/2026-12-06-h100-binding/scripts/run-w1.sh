#!/usr/bin/env bash
# Call W1: the ES-MoE model's routed run profiled piece by piece (random frames, batch 1 and 32) with A = 46f1b25 and
# B = 8230afe (plans read their inputs where they lie; sigmoid in the peak kernel; the TopK filter).
out=$1
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
chmod +x .gpu/w/A/ilgpu-bench .gpu/w/B/ilgpu-bench
mkdir -p /tmp/ort && xz -dc .gpu/w/ort.xz > /tmp/ort/libonnxruntime.so
export LD_LIBRARY_PATH=/tmp/ort:$LD_LIBRARY_PATH
nvidia-smi -L > $out/gpu.txt
for side in A B A B; do
  timeout 80 .gpu/w/$side/ilgpu-bench profile models/esmoe-centernet.moedet $out/student-$side --batches 1,32 --iterations 20 > $out/student-$side.log 2>&1
  echo "student $side rc $? ${SECONDS}s $(grep -o '"whole_run_ms": *[0-9.]*' $out/student-$side/profile_b1.json) $(grep -o '"whole_run_ms": *[0-9.]*' $out/student-$side/profile_b32.json)" >> $out/rc.txt
done
cat $out/rc.txt
