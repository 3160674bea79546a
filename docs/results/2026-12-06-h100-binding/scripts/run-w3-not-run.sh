#!/usr/bin/env bash
# Call W3: A = 6876be1 (the build call V timed as B), B = 132b6b8 (plans read their inputs where they lie, the TopK
# filter, the peak test staging its window with the fused sigmoid). The ES-MoE routed run and the CenterNet network
# profiled piece by piece (random frames, batch 1 and 32), A B A B; then CenterNet's outputs of B at batch 1 and 8
# against ONNX Runtime (CPU) on a real frame (compare.py).
out=$1
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
chmod +x .gpu/w3/A/ilgpu-bench .gpu/w3/B/ilgpu-bench
mkdir -p /tmp/ort /tmp/frames /tmp/acc && xz -dc .gpu/w3/ort.xz > /tmp/ort/libonnxruntime.so
xz -dc .gpu/w3/frames/coco0_1280x720.bgr.xz > /tmp/frames/coco0_1280x720.bgr
nvidia-smi -L > $out/gpu.txt
whole() { echo "$(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b1.json) $(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b32.json)"; }
for side in A B A B; do
  LD_LIBRARY_PATH=/tmp/ort:$LD_LIBRARY_PATH timeout 80 .gpu/w3/$side/ilgpu-bench profile models/esmoe-centernet.moedet $out/student-$side --batches 1,32 --iterations 20 > $out/student-$side.log 2>&1
  echo "student $side rc $? ${SECONDS}s $(whole $out/student-$side)" >> $out/rc.txt
  timeout 60 .gpu/w3/$side/ilgpu-bench profile models/centernet-mnv3.onnx $out/centernet-$side --batches 1,32 --iterations 20 > $out/centernet-$side.log 2>&1
  echo "centernet $side rc $? ${SECONDS}s $(whole $out/centernet-$side)" >> $out/rc.txt
done
timeout 60 .gpu/w3/B/ilgpu-bench models/centernet-mnv3.onnx /tmp/frames /tmp/acc/B --batches 1,8 > $out/accuracy-B.log 2>&1
timeout 90 python3 tools/IlgpuBench/compare.py models/centernet-mnv3.onnx /tmp/acc/B $out/compare-B.json >> $out/accuracy-B.log 2>&1
echo "accuracy B rc $? ${SECONDS}s" >> $out/rc.txt
cat $out/rc.txt; head -c 1200 $out/compare-B.json
