#!/usr/bin/env bash
# Call L: the tensor-core GEMMs of four 16-k stages with the tap-major copy fixed (call K's start-up check refused them:
# their tap-major copies read the second half k-step 16 rows on instead of 8), offered to the launch search against
# the search without them (MOEDETECT_ILGPU_DEEP_PIPELINE=0), one binary, the same call:
#  1. ilgpu-bench profile --as-product, YOLOv8n and CenterNet, b1 and b32, deep on and off, two rounds alternated.
#  2. accuracy: ilgpu-bench on two real frames against ONNX Runtime CPU (compare.py), deep on.
#  3. ilgpu-bench kernels --tensor-cores-only, YOLOv8n: the start-up check of each tensor-core GEMM, each layer on each.
# Carry .gpu/g. Usage: run-l.sh OUT
final=$1; out=/tmp/lout; mkdir -p $out /tmp/c /tmp/acc /tmp/bgr
pack() { tar czf $final/all.tgz -C $out . 2>/dev/null; cp $out/rc.txt $final/ 2>/dev/null; }
left() { (( SECONDS < ${BUDGET_S:-190} )) || { echo "skipped: $*" >> $out/rc.txt; return 1; }; }
note() { echo "$* ${SECONDS}s" >> $out/rc.txt; pack; }
export LD_LIBRARY_PATH=/tmp/c:/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
cp .gpu/g/ilgpu-bench /tmp/c/ && chmod +x /tmp/c/*
xz -dc .gpu/g/bin/ort.xz > /tmp/c/libonnxruntime.so; cp .gpu/g/bin/libonnxruntime_providers_shared.so /tmp/c/
for f in .gpu/g/bgr/*.xz; do xz -dc $f > /tmp/bgr/$(basename ${f%.xz}); done
nvidia-smi -L > $out/gpu.txt
timeout 60 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > $out/export.log 2>&1; note "export rc $?"
b=/tmp/c/ilgpu-bench
whole() { echo "$(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b1.json | head -1) $(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b32.json | head -1)"; }
profile() {  # profile NAME MODEL MODE ROUND
  left "$1 $3 $4" || return
  MOEDETECT_ILGPU_DEEP_PIPELINE=$3 timeout 60 $b profile $2 $out/$1-$3-$4 --batches 1,32 --iterations 20 --as-product > $out/$1-$3-$4.log 2>&1
  note "$1 deep=$3 round $4 rc $? $(whole $out/$1-$3-$4)"
}
for mode in 1 0; do profile yolov8n /tmp/yolov8n.onnx $mode 1; profile centernet models/centernet-mnv3.onnx $mode 1; done
accuracy() {  # accuracy TAG MODEL
  left "accuracy $1" || return
  timeout 40 $b $2 /tmp/bgr /tmp/acc/$1 --batches 1,8 > $out/accuracy-$1.log 2>&1
  timeout 40 python3 tools/IlgpuBench/compare.py $2 /tmp/acc/$1 $out/compare-$1.json >> $out/accuracy-$1.log 2>&1
  note "accuracy $1"
}
accuracy y /tmp/yolov8n.onnx
for mode in 0 1; do profile yolov8n /tmp/yolov8n.onnx $mode 2; profile centernet models/centernet-mnv3.onnx $mode 2; done
if left kernels; then
  timeout 45 $b kernels /tmp/yolov8n.onnx $out/k-yolov8n --batches 1,32 --iterations 10 --tensor-cores-only > $out/k-yolov8n.log 2>&1
  note "kernels yolov8n rc $?"
fi
accuracy c models/centernet-mnv3.onnx
pack
cat $out/rc.txt
grep -h 'tensor_core_check\|warning' $out/*.log | sort | uniq -c | head -12
