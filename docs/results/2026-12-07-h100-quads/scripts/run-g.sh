#!/usr/bin/env bash
# Call G: the tensor-core GEMM's weight fragments by ldmatrix, TopK of short rows in one group and strided copies four
# values a thread (defaults) against word loads, the chunked TopK and one value a thread (MOEDETECT_ILGPU_LDMATRIX=0,
# MOEDETECT_ILGPU_TOPK_IN_GROUP=0, MOEDETECT_ILGPU_QUAD_COPIES=0: "mode 0").
#  1. ilgpu-bench kernels --tensor-cores-only on YOLOv8n (each GEMM layer alone, max abs diff to the direct kernel), ldmatrix on, off.
#  2. ilgpu-bench profile --as-product, whole-plan medians, CenterNet and YOLOv8n, b1 and b32, modes alternated (round 2 after step 4).
#  3. scripts/gpu-bench with the default build: product path (ilgpu) and PyTorch, CenterNet and YOLOv8n, b1 and b32.
#  4. outputs against ONNX Runtime (CPU): compare.py on CenterNet and YOLOv8n, defaults.
#  5. product path in mode 0, b1 and b32, both models (against step 3's rows).
# Carry .gpu/g. Usage: run-g.sh OUT
final=$1; out=/tmp/gout; mkdir -p $out /tmp/c /tmp/frames /tmp/acc /tmp/bgr
pack() { tar czf $final/all.tgz -C $out . 2>/dev/null; cp $out/rc.txt $final/ 2>/dev/null; }
left() { (( SECONDS < ${BUDGET_S:-420} )) || { echo "skipped: $*" >> $out/rc.txt; return 1; }; }
note() { echo "$* ${SECONDS}s" >> $out/rc.txt; pack; }
export LD_LIBRARY_PATH=/tmp/c:/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
cp .gpu/g/ilgpu-bench .gpu/g/bin/moedetect .gpu/g/bin/libonnxruntime_providers_shared.so /tmp/c/ && chmod +x /tmp/c/*
xz -dc .gpu/g/bin/ort.xz > /tmp/c/libonnxruntime.so
for f in .gpu/g/bgr/*.xz; do xz -dc $f > /tmp/bgr/$(basename ${f%.xz}); done
xz -dc .gpu/g/frames-512.raw.xz > /tmp/frames/f512.raw; xz -dc .gpu/g/frames-640.raw.xz > /tmp/frames/f640.raw
nvidia-smi -L > $out/gpu.txt
timeout 60 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > $out/export.log 2>&1; note "export rc $?"
b=/tmp/c/ilgpu-bench
for mode in 1 0; do
  left "kernels $mode" || continue
  MOEDETECT_ILGPU_LDMATRIX=$mode timeout 60 $b kernels /tmp/yolov8n.onnx $out/k-yolov8n-$mode --batches 1,32 --iterations 10 --tensor-cores-only > $out/k-yolov8n-$mode.log 2>&1
  note "kernels yolov8n ldmatrix=$mode rc $?"
done
whole() { echo "$(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b1.json | head -1) $(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b32.json | head -1)"; }
profile() {  # profile NAME MODEL MODE ROUND [extra args]
  left "$1 $3 $4" || return
  MOEDETECT_ILGPU_LDMATRIX=$3 MOEDETECT_ILGPU_TOPK_IN_GROUP=$3 MOEDETECT_ILGPU_QUAD_COPIES=$3 timeout 60 $b profile $2 $out/$1-$3-$4 --batches 1,32 --iterations 20 "${@:5}" > $out/$1-$3-$4.log 2>&1
  note "$1 ldmatrix=$3 round $4 rc $? $(whole $out/$1-$3-$4)"
}
rounds() { for r in "$@"; do for mode in 1 0; do
  profile centernet models/centernet-mnv3.onnx $mode $r --as-product
  profile yolov8n /tmp/yolov8n.onnx $mode $r --as-product
done; done; }
rounds 1
if left gpu-bench; then
  cp /tmp/frames/f512.raw /tmp/frames/frames-512.raw; cp /tmp/frames/f640.raw /tmp/frames/frames-640.raw
  ENGINE=ilgpu MODELS='teacher yolov8n' BATCHES=1,32 TOTAL_S=190 MOEDETECT_CAP_S=40 TORCH_CAP_S=80 \
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
for m in "centernet models/centernet-mnv3.onnx /tmp/frames/f512.raw" "yolov8n /tmp/yolov8n.onnx /tmp/frames/f640.raw"; do
  set -- $m; for batch in 1 32; do
    left "product off $1 $batch" || continue
    MOEDETECT_ILGPU_LDMATRIX=0 MOEDETECT_ILGPU_TOPK_IN_GROUP=0 MOEDETECT_ILGPU_QUAD_COPIES=0 timeout 40 /tmp/c/moedetect bench --device gpu --engine ilgpu --model $2 --frames-file $3 \
      --batch $batch --frames $((batch == 1 ? 256 : 1024)) --json $out/product-off-$1-$batch.json >> $out/product.log 2>&1
    note "product ldmatrix=0 $1 b$batch rc $?"
  done
done
pack
cat $out/rc.txt; cat $out/bench/gpu-bench.md 2>/dev/null | head -30
grep -h "max_abs" $out/accuracy-*.log | head -8
