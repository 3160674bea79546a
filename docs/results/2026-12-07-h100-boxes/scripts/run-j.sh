#!/usr/bin/env bash
# Call J: YOLOv8n's head decode as one kernel (DistanceBoxFusion) against its 14 nodes
# (MOEDETECT_ILGPU_DISTANCE_BOXES=0), one binary, the same call:
#  1. ilgpu-bench profile --as-product, YOLOv8n, b1 and b32, each mode, rounds alternated.
#  2. accuracy: ilgpu-bench on two real frames against ONNX Runtime CPU (compare.py), each mode.
#  3. scripts/gpu-bench: product path (ilgpu, fused) and PyTorch eager / compiled, YOLOv8n and CenterNet, b1 and b32.
# Carry .gpu/g. Usage: run-j.sh OUT
final=$1; out=/tmp/jout; mkdir -p $out /tmp/c /tmp/frames /tmp/acc /tmp/bgr
pack() { tar czf $final/all.tgz -C $out . 2>/dev/null; cp $out/rc.txt $final/ 2>/dev/null; }
left() { (( SECONDS < ${BUDGET_S:-330} )) || { echo "skipped: $*" >> $out/rc.txt; return 1; }; }
note() { echo "$* ${SECONDS}s" >> $out/rc.txt; pack; }
export LD_LIBRARY_PATH=/tmp/c:/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
cp .gpu/g/ilgpu-bench .gpu/g/bin/moedetect .gpu/g/bin/libonnxruntime_providers_shared.so /tmp/c/ && chmod +x /tmp/c/*
xz -dc .gpu/g/bin/ort.xz > /tmp/c/libonnxruntime.so
for f in .gpu/g/bgr/*.xz; do xz -dc $f > /tmp/bgr/$(basename ${f%.xz}); done
xz -dc .gpu/g/frames-512.raw.xz > /tmp/frames/frames-512.raw; xz -dc .gpu/g/frames-640.raw.xz > /tmp/frames/frames-640.raw
nvidia-smi -L > $out/gpu.txt
timeout 60 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > $out/export.log 2>&1; note "export rc $?"
b=/tmp/c/ilgpu-bench
whole() { echo "$(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b1.json | head -1) $(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b32.json | head -1)"; }
profile() {  # profile MODE ROUND
  left "yolov8n $1 $2" || return
  MOEDETECT_ILGPU_DISTANCE_BOXES=$1 timeout 60 $b profile /tmp/yolov8n.onnx $out/yolov8n-$1-$2 --batches 1,32 --iterations 20 --as-product > $out/yolov8n-$1-$2.log 2>&1
  note "yolov8n fused=$1 round $2 rc $? $(whole $out/yolov8n-$1-$2)"
}
profile 1 1; profile 0 1
for mode in 1 0; do
  left "accuracy $mode" || continue
  MOEDETECT_ILGPU_DISTANCE_BOXES=$mode timeout 40 $b /tmp/yolov8n.onnx /tmp/bgr /tmp/acc/y$mode --batches 1,8 > $out/accuracy-y$mode.log 2>&1
  timeout 40 python3 tools/IlgpuBench/compare.py /tmp/yolov8n.onnx /tmp/acc/y$mode $out/compare-y$mode.json >> $out/accuracy-y$mode.log 2>&1
  note "accuracy fused=$mode"
done
profile 1 2; profile 0 2
if left gpu-bench; then
  ENGINE=ilgpu MODELS='yolov8n teacher' BATCHES=1,32 TOTAL_S=170 MOEDETECT_CAP_S=30 TORCH_CAP_S=70 \
    TORCH_ENGINES=torch-eager,torch-compiled TEACHER=.gpu/g/teacher/centernet.json scripts/gpu-bench .gpu/g/bin /tmp/frames $out/bench
  note "gpu-bench done"
fi
pack
cat $out/rc.txt; cat $out/bench/gpu-bench.md 2>/dev/null | head -24
grep -h '"output0"\|warning' $out/*.log | sort | uniq -c | head -12
