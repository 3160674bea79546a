#!/usr/bin/env bash
# Call X: the FP16 GEMMs after call W (inputs of 1 × 1 GEMMs through registers, first weights loaded while the first
# input copies are issued), against the same build with MOEDETECT_ILGPU_FP16=0 (TF32 operands only), in one call:
#  1. ilgpu-bench kernels --tensor-cores-only, YOLOv8n batch 32: the GPU check of each tile and precision, and each GEMM
#     layer on each of them.
#  2. ilgpu-bench profile --as-product, YOLOv8n and CenterNet, batch 1 and 32, tf32/fp16 then fp16/tf32.
#  3. accuracy against ONNX Runtime CPU (compare.py), YOLOv8n and CenterNet, two real frames, FP16 on.
#  4. with MODELS set, scripts/gpu-bench, FP16 on, against PyTorch eager and compiled.
# Carry .gpu/w. Usage: [MODELS=...] run-x.sh OUT
final=$1; out=/tmp/xout; mkdir -p $out /tmp/new /tmp/bgr /tmp/acc /tmp/frames
pack() { tar czf $final/all.tgz -C $out . 2>/dev/null; cp $out/rc.txt $final/ 2>/dev/null; }
left() { (( SECONDS < ${BUDGET_S:-300} )) || { echo "skipped: $*" >> $out/rc.txt; return 1; }; }
note() { echo "$* ${SECONDS}s" >> $out/rc.txt; pack; }
src=.gpu/w
xz -dc $src/ilgpu-bench.xz > /tmp/new/ilgpu-bench; xz -dc $src/moedetect.xz > /tmp/new/moedetect
xz -dc $src/ort.xz > /tmp/new/libonnxruntime.so; cp $src/libonnxruntime_providers_shared.so /tmp/new/; chmod +x /tmp/new/*
for f in $src/bgr/*.xz; do xz -dc $f > /tmp/bgr/$(basename ${f%.xz}); done
for f in $src/frames/*.xz; do xz -dc $f > /tmp/frames/$(basename ${f%.xz}); done
cp -r $src/teacher /tmp/teacher
export LD_LIBRARY_PATH=/tmp/new:/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
nvidia-smi -L > $out/gpu.txt
timeout 60 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > $out/export.log 2>&1; note "export rc $?"
timeout 100 /tmp/new/ilgpu-bench kernels /tmp/yolov8n.onnx $out/kernels-yolov8n --batches 32 --tensor-cores-only > $out/kernels-yolov8n.log 2>&1
note "kernels rc $? $(grep -c tensor_core_check $out/kernels-yolov8n.log) checks"
whole() { echo "$(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b1.json | head -1) $(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b32.json | head -1)"; }
profile() {  # profile MODEL PRECISION ROUND
  local n=$(basename ${1%.onnx}) fp16=1; [[ $2 == tf32 ]] && fp16=0
  left "profile $n $2 $3" || return
  MOEDETECT_ILGPU_FP16=$fp16 timeout 75 /tmp/new/ilgpu-bench profile $1 $out/$n-$2-$3 --batches 1,32 --iterations 20 --as-product > $out/$n-$2-$3.log 2>&1
  note "profile $n $2 round $3 rc $? $(whole $out/$n-$2-$3)"
}
accuracy() {  # accuracy TAG MODEL
  left "accuracy $1" || return
  timeout 45 /tmp/new/ilgpu-bench $2 /tmp/bgr /tmp/acc/$1 --batches 1,8 > $out/accuracy-$1.log 2>&1
  timeout 40 python3 tools/IlgpuBench/compare.py $2 /tmp/acc/$1 $out/compare-$1.json >> $out/accuracy-$1.log 2>&1
  note "accuracy $1 rc $?"
}
y=/tmp/yolov8n.onnx c=models/centernet-mnv3.onnx
profile $y tf32 1; profile $y fp16 1
profile $c tf32 1; profile $c fp16 1
accuracy c $c; accuracy y $y
profile $c fp16 2; profile $c tf32 2
profile $y fp16 2; profile $y tf32 2
if [[ -n $MODELS ]] && left torch; then
  mkdir -p /tmp/b && cp /tmp/new/moedetect /tmp/new/libonnxruntime.so /tmp/new/libonnxruntime_providers_shared.so /tmp/b/
  ENGINE=ilgpu MODELS="${MODELS:-yolov8n}" BATCHES=1,32 TOTAL_S=$(( ${END_S:-570} - SECONDS )) MOEDETECT_CAP_S=45 TORCH_CAP_S=120 \
    TORCH_ENGINES=torch-eager,torch-compiled TEACHER=/tmp/teacher/centernet.json scripts/gpu-bench /tmp/b /tmp/frames $out/bench > $out/bench.log 2>&1
  note "gpu-bench rc $?"
fi
pack
cat $out/rc.txt; sed -n '/^| model/,$p' $out/bench/gpu-bench.md 2>/dev/null | head -30
