#!/usr/bin/env bash
# Call A: CUDA graphs with branches (MOEDETECT_GRAPH_BRANCHES=1, the default) against graphs in plan order (=0), same
# build: CenterNet (detections output only, as the product computes) and the ES-MoE routed run, whole-plan medians at
# batch 1 and 32, B A B A for CenterNet; then CenterNet's GPU outputs with branches against ONNX Runtime (CPU) on a real frame.
out=$1
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
b=.gpu/br/ilgpu-bench; chmod +x $b
mkdir -p /tmp/ort /tmp/frames /tmp/acc && xz -dc .gpu/br/ort.xz > /tmp/ort/libonnxruntime.so
xz -dc .gpu/br/frames/coco0_1280x720.bgr.xz > /tmp/frames/coco0_1280x720.bgr
nvidia-smi -L > $out/gpu.txt
whole() { echo "$(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b1.json) $(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b32.json)"; }
for r in 1 2; do for br in 1 0; do
  MOEDETECT_GRAPH_BRANCHES=$br timeout 50 $b profile models/centernet-mnv3.onnx $out/centernet-$br-$r --batches 1,32 --iterations 20 --outputs detections > $out/centernet-$br-$r.log 2>&1
  echo "centernet branches=$br round $r rc $? ${SECONDS}s $(whole $out/centernet-$br-$r)" >> $out/rc.txt
done; done
for br in 1 0; do
  MOEDETECT_GRAPH_BRANCHES=$br LD_LIBRARY_PATH=/tmp/ort:$LD_LIBRARY_PATH timeout 60 $b profile models/esmoe-centernet.moedet $out/student-$br --batches 1,32 --iterations 20 > $out/student-$br.log 2>&1
  echo "student branches=$br rc $? ${SECONDS}s $(whole $out/student-$br)" >> $out/rc.txt
done
timeout 60 $b models/centernet-mnv3.onnx /tmp/frames /tmp/acc/on --batches 1,8 > $out/accuracy-on.log 2>&1
timeout 90 python3 tools/IlgpuBench/compare.py models/centernet-mnv3.onnx /tmp/acc/on $out/compare-on.json >> $out/accuracy-on.log 2>&1
echo "accuracy branches=1 rc $? ${SECONDS}s" >> $out/rc.txt
cat $out/rc.txt; head -c 1200 $out/compare-on.json; grep -h "warning" $out/*.log | sort | uniq -c | head
