#!/usr/bin/env bash
# Call K: tensor-core GEMMs with four 16-k copy stages (DeepSquare/DeepWide tiles) offered to the launch search beside
# the two 32-k stages, and split tensor-core GEMMs also offered whole, against the search without either, one binary,
# the same call, and CenterNet's NHWC input read channels first (no input Transpose). Modes DSF: D =
# MOEDETECT_ILGPU_DEEP_PIPELINE, S = MOEDETECT_ILGPU_SPLIT_SEARCH, F = MOEDETECT_ILGPU_INPUT_FOLDING.
#  1. ilgpu-bench profile --as-product, YOLOv8n and CenterNet, b1 and b32, modes 111 and 000.
#  2. scripts/gpu-bench (models in STEPS_BENCH): product path (all on) and PyTorch eager / compiled, b1 and b32.
#  3. CenterNet 110 (input folding alone off); YOLOv8n again, modes 011, 000, 111 (011 parts deep from split search).
#  4. accuracy: ilgpu-bench on two real frames against ONNX Runtime CPU (compare.py), mode 11.
#  5. ilgpu-bench kernels --tensor-cores-only, YOLOv8n: the start-up check of each tensor-core GEMM, each layer on each.
# Carry .gpu/g. Usage: run-k.sh OUT
final=$1; out=/tmp/kout; mkdir -p $out /tmp/c /tmp/frames /tmp/acc /tmp/bgr
pack() { tar czf $final/all.tgz -C $out . 2>/dev/null; cp $out/rc.txt $final/ 2>/dev/null; }
left() { (( SECONDS < ${BUDGET_S:-330} )) || { echo "skipped: $*" >> $out/rc.txt; return 1; }; }
note() { echo "$* ${SECONDS}s" >> $out/rc.txt; pack; }
export LD_LIBRARY_PATH=/tmp/c:/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
cp .gpu/g/ilgpu-bench .gpu/g/bin/moedetect .gpu/g/bin/libonnxruntime_providers_shared.so /tmp/c/ && chmod +x /tmp/c/*
xz -dc .gpu/g/bin/ort.xz > /tmp/c/libonnxruntime.so
for f in .gpu/g/bgr/*.xz; do xz -dc $f > /tmp/bgr/$(basename ${f%.xz}); done
xz -dc .gpu/g/frames-512.raw.xz > /tmp/frames/frames-512.raw; xz -dc .gpu/g/frames-640.raw.xz > /tmp/frames/frames-640.raw
nvidia-smi -L > $out/gpu.txt; ls /usr/local/cuda-13.0/bin > $out/cuda-bin.txt 2>&1
timeout 60 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > $out/export.log 2>&1; note "export rc $?"
b=/tmp/c/ilgpu-bench
whole() { echo "$(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b1.json | head -1) $(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b32.json | head -1)"; }
profile() {  # profile NAME MODEL MODE ROUND
  left "$1 $3 $4" || return
  MOEDETECT_ILGPU_DEEP_PIPELINE=${3:0:1} MOEDETECT_ILGPU_SPLIT_SEARCH=${3:1:1} MOEDETECT_ILGPU_INPUT_FOLDING=${3:2:1} timeout 70 $b profile $2 $out/$1-$3-$4 --batches 1,32 --iterations 20 --as-product > $out/$1-$3-$4.log 2>&1
  note "$1 mode=$3 round $4 rc $? $(whole $out/$1-$3-$4)"
}
for mode in 111 000; do profile yolov8n /tmp/yolov8n.onnx $mode 1; profile centernet models/centernet-mnv3.onnx $mode 1; done
if [ -n "$STEPS_BENCH" ] && left gpu-bench; then
  ENGINE=ilgpu MODELS="$STEPS_BENCH" BATCHES=1,32 TOTAL_S=${BENCH_S:-170} MOEDETECT_CAP_S=30 TORCH_CAP_S=70 \
    TORCH_ENGINES=torch-eager,torch-compiled TEACHER=.gpu/g/teacher/centernet.json scripts/gpu-bench .gpu/g/bin /tmp/frames $out/bench
  note "gpu-bench done"
fi
profile centernet models/centernet-mnv3.onnx 110 1
for mode in 011 000 111; do profile yolov8n /tmp/yolov8n.onnx $mode 2; done
if left accuracy; then
  timeout 40 $b /tmp/yolov8n.onnx /tmp/bgr /tmp/acc/y --batches 1,8 > $out/accuracy-y.log 2>&1
  timeout 40 python3 tools/IlgpuBench/compare.py /tmp/yolov8n.onnx /tmp/acc/y $out/compare-y.json >> $out/accuracy-y.log 2>&1
  timeout 40 $b models/centernet-mnv3.onnx /tmp/bgr /tmp/acc/c --batches 1,8 > $out/accuracy-c.log 2>&1
  timeout 40 python3 tools/IlgpuBench/compare.py models/centernet-mnv3.onnx /tmp/acc/c $out/compare-c.json >> $out/accuracy-c.log 2>&1
  note "accuracy"
fi
if left kernels; then
  timeout 60 $b kernels /tmp/yolov8n.onnx $out/k-yolov8n --batches 1,32 --iterations 10 --tensor-cores-only > $out/k-yolov8n.log 2>&1
  note "kernels yolov8n rc $?"
fi
pack
cat $out/rc.txt; cat $out/bench/gpu-bench.md 2>/dev/null | head -24
grep -h 'tensor_core_check\|warning' $out/*.log | sort | uniq -c | head -12
