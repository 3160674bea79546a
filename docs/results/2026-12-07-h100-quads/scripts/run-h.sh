#!/usr/bin/env bash
# Call H: the build with ldmatrix, one-group TopK and quad copies as the only paths (their switches removed after call
# G), and the 32 × 128 tensor-core tile also offered to layers whose last 64-row tile is at most half full (80 out
# channels: YOLOv8n's class branch), the launch search choosing.
#  1. ilgpu-bench kernels --tensor-cores-only, YOLOv8n, b1 and b32: each GEMM layer on each tile.
#  2. ilgpu-bench profile --as-product, CenterNet and YOLOv8n, b1 and b32 (against call G's mode 1).
#  3. scripts/gpu-bench: product path (ilgpu) and PyTorch, CenterNet and YOLOv8n, b1 and b32.
# Carry .gpu/g. Usage: run-h.sh OUT (GPU_BENCH=0: without step 3)
final=$1; out=/tmp/hout; mkdir -p $out /tmp/c /tmp/frames
pack() { tar czf $final/all.tgz -C $out . 2>/dev/null; cp $out/rc.txt $final/ 2>/dev/null; }
left() { (( SECONDS < ${BUDGET_S:-200} )) || { echo "skipped: $*" >> $out/rc.txt; return 1; }; }
note() { echo "$* ${SECONDS}s" >> $out/rc.txt; pack; }
export LD_LIBRARY_PATH=/tmp/c:/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
cp .gpu/g/ilgpu-bench .gpu/g/bin/moedetect .gpu/g/bin/libonnxruntime_providers_shared.so /tmp/c/ && chmod +x /tmp/c/*
xz -dc .gpu/g/bin/ort.xz > /tmp/c/libonnxruntime.so
xz -dc .gpu/g/frames-512.raw.xz > /tmp/frames/frames-512.raw; xz -dc .gpu/g/frames-640.raw.xz > /tmp/frames/frames-640.raw
nvidia-smi -L > $out/gpu.txt
timeout 60 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > $out/export.log 2>&1; note "export rc $?"
b=/tmp/c/ilgpu-bench
for m in "yolov8n /tmp/yolov8n.onnx"; do
  set -- $m; left "kernels $1" || continue
  timeout 60 $b kernels $2 $out/k-$1 --batches 1,32 --iterations 10 --tensor-cores-only > $out/k-$1.log 2>&1; note "kernels $1 rc $?"
done
whole() { echo "$(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b1.json | head -1) $(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b32.json | head -1)"; }
for r in 1; do for m in "centernet models/centernet-mnv3.onnx" "yolov8n /tmp/yolov8n.onnx"; do
  set -- $m; left "profile $1 $r" || continue
  timeout 60 $b profile $2 $out/$1-$r --batches 1,32 --iterations 20 --as-product > $out/$1-$r.log 2>&1; note "profile $1 round $r rc $? $(whole $out/$1-$r)"
done; done
if [[ ${GPU_BENCH:-1} == 1 ]] && left gpu-bench; then
  ENGINE=ilgpu MODELS='teacher yolov8n' BATCHES=1,32 TOTAL_S=150 MOEDETECT_CAP_S=30 TORCH_CAP_S=60 \
    TORCH_ENGINES=torch-eager,torch-compiled TEACHER=.gpu/g/teacher/centernet.json scripts/gpu-bench .gpu/g/bin /tmp/frames $out/bench
  note "gpu-bench done"
fi
pack
cat $out/rc.txt; cat $out/bench/gpu-bench.md 2>/dev/null | head -24
