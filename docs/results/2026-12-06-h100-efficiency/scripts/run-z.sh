#!/usr/bin/env bash
# Call Z: 7f87144 + bench efficiency (XMath.Min kernels, named TopK filter slots) on the GPU: the ES-MoE routed run and CenterNet
# profiled piece by piece (random frames, batch 1 and 32); CenterNet's outputs at batch 1 and 8 against ONNX Runtime
# (CPU) on a real frame (compare.py).
out=$1
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
chmod +x .gpu/x1/B/ilgpu-bench
mkdir -p /tmp/ort /tmp/frames /tmp/acc && xz -dc .gpu/x1/ort.xz > /tmp/ort/libonnxruntime.so
xz -dc .gpu/x1/frames/coco0_1280x720.bgr.xz > /tmp/frames/coco0_1280x720.bgr
nvidia-smi -L > $out/gpu.txt
whole() { echo "$(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b1.json) $(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b32.json)"; }
LD_LIBRARY_PATH=/tmp/ort:$LD_LIBRARY_PATH timeout 80 .gpu/x1/B/ilgpu-bench profile models/esmoe-centernet.moedet $out/student-B --batches 1,32 --iterations 20 > $out/student-B.log 2>&1
echo "student B rc $? ${SECONDS}s $(whole $out/student-B)" >> $out/rc.txt
timeout 60 .gpu/x1/B/ilgpu-bench profile models/centernet-mnv3.onnx $out/centernet-B --batches 1,32 --iterations 20 > $out/centernet-B.log 2>&1
echo "centernet B rc $? ${SECONDS}s $(whole $out/centernet-B)" >> $out/rc.txt
timeout 60 .gpu/x1/B/ilgpu-bench models/centernet-mnv3.onnx /tmp/frames /tmp/acc/B --batches 1,8 > $out/accuracy-B.log 2>&1
timeout 90 python3 tools/IlgpuBench/compare.py models/centernet-mnv3.onnx /tmp/acc/B $out/compare-B.json >> $out/accuracy-B.log 2>&1
echo "accuracy B rc $? ${SECONDS}s" >> $out/rc.txt
cat $out/rc.txt; head -c 1500 $out/compare-B.json
