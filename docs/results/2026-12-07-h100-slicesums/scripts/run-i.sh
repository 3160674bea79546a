#!/usr/bin/env bash
# Call I: split-K summed in the GEMM's own launch (SliceSums, the tile's last group adds the slices) against the
# separate summing launch (MOEDETECT_ILGPU_SLICE_SUMS=0), one binary, the same call:
#  1. ilgpu-bench profile --as-product, CenterNet and YOLOv8n, b1 and b32, each mode, two rounds alternated.
#  2. moedetect bench --device gpu --engine ilgpu, the product path at b1, each mode.
#  3. scripts/gpu-bench: product path (ilgpu, default mode) and PyTorch eager / compiled, b1 and b32.
#  4. accuracy: ilgpu-bench on two real frames against ONNX Runtime CPU (compare.py), default mode.
#  5. ilgpu-bench kernels --tensor-cores-only, YOLOv8n: each GEMM layer on each tile the launch search offers.
# Carry .gpu/g. Usage: run-i.sh OUT
final=$1; out=/tmp/iout; mkdir -p $out /tmp/c /tmp/frames /tmp/acc /tmp/bgr
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
profile() {  # profile NAME MODEL MODE ROUND
  left "$1 $3 $4" || return
  MOEDETECT_ILGPU_SLICE_SUMS=$3 timeout 60 $b profile $2 $out/$1-$3-$4 --batches 1,32 --iterations 20 --as-product > $out/$1-$3-$4.log 2>&1
  note "$1 sums-in-kernel=$3 round $4 rc $? $(whole $out/$1-$3-$4)"
}
rounds() { for r in "$@"; do for mode in 1 0; do
  profile centernet models/centernet-mnv3.onnx $mode $r
  profile yolov8n /tmp/yolov8n.onnx $mode $r
done; done; }
product() {  # product NAME MODEL FRAMES MODE
  left "product $1 $4" || return
  MOEDETECT_ILGPU_SLICE_SUMS=$4 timeout 40 /tmp/c/moedetect bench --device gpu --engine ilgpu --model $2 --frames-file $3 \
    --batch 1 --frames 512 --json $out/product-$1-$4.json >> $out/product.log 2>&1
  note "product $1 b1 sums-in-kernel=$4 rc $?"
}
rounds 1
for mode in 1 0; do
  product centernet models/centernet-mnv3.onnx /tmp/frames/frames-512.raw $mode
  product yolov8n /tmp/yolov8n.onnx /tmp/frames/frames-640.raw $mode
done
if left gpu-bench; then
  ENGINE=ilgpu MODELS='teacher yolov8n' BATCHES=1,32 TOTAL_S=150 MOEDETECT_CAP_S=30 TORCH_CAP_S=60 \
    TORCH_ENGINES=torch-eager,torch-compiled TEACHER=.gpu/g/teacher/centernet.json scripts/gpu-bench .gpu/g/bin /tmp/frames $out/bench
  note "gpu-bench done"
fi
if left accuracy; then
  timeout 40 $b models/centernet-mnv3.onnx /tmp/bgr /tmp/acc/c --batches 1,8 > $out/accuracy-c.log 2>&1
  timeout 40 $b /tmp/yolov8n.onnx /tmp/bgr /tmp/acc/y --batches 1,8 > $out/accuracy-y.log 2>&1
  timeout 40 python3 tools/IlgpuBench/compare.py models/centernet-mnv3.onnx /tmp/acc/c $out/compare-c.json >> $out/accuracy-c.log 2>&1
  timeout 40 python3 tools/IlgpuBench/compare.py /tmp/yolov8n.onnx /tmp/acc/y $out/compare-y.json >> $out/accuracy-y.log 2>&1
  note "accuracy"
fi
rounds 2
if left kernels; then
  timeout 40 $b kernels /tmp/yolov8n.onnx $out/k-yolov8n --batches 1,32 --iterations 10 --tensor-cores-only > $out/k-yolov8n.log 2>&1
  note "kernels yolov8n rc $?"
fi
pack
cat $out/rc.txt; cat $out/bench/gpu-bench.md 2>/dev/null | head -24
grep -h "max_abs\|warning" $out/*.log | sort | uniq -c | head -12
