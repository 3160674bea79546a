#!/usr/bin/env bash
# Call O: kernels compiled per fused activation (new, 29d95ba) against one switch over every unary function in each
# epilogue (old, 780781b), two ilgpu-bench builds in the same call:
#  1. ilgpu-bench profile --as-product, YOLOv8n and CenterNet, b1 and b32, new/old then (after 2.) old/new.
#  2. accuracy of the new build against ONNX Runtime CPU (compare.py), two real frames, both models.
#  3. the new product path (moedetect bench) against PyTorch eager and compiled, CenterNet, batch 1 and 32.
#  4. ncu kernel durations (gpu__time_duration) of one batch-1 YOLOv8n plan run per build (search off).
# Carry .gpu/h. Usage: BUDGET_S=… run-o.sh OUT
final=$1; out=/tmp/oout; mkdir -p $out /tmp/c /tmp/acc /tmp/bgr /tmp/b /tmp/frames
pack() { tar czf $final/all.tgz -C $out . 2>/dev/null; cp $out/rc.txt $final/ 2>/dev/null; }
left() { (( SECONDS < ${BUDGET_S:-190} )) || { echo "skipped: $*" >> $out/rc.txt; return 1; }; }
note() { echo "$* ${SECONDS}s" >> $out/rc.txt; pack; }
export LD_LIBRARY_PATH=/tmp/c:/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
for b in ilgpu-bench ilgpu-bench-old; do xz -dc .gpu/h/$b.xz > /tmp/c/$b; done
xz -dc .gpu/h/bin/ort.xz > /tmp/c/libonnxruntime.so; cp .gpu/h/bin/libonnxruntime_providers_shared.so /tmp/c/
cp .gpu/h/bin/ort.xz .gpu/h/bin/libonnxruntime_providers_shared.so /tmp/b/; xz -dc .gpu/h/bin/moedetect.xz > /tmp/b/moedetect
chmod +x /tmp/c/* /tmp/b/moedetect
for f in .gpu/h/bgr/*.xz; do xz -dc $f > /tmp/bgr/$(basename ${f%.xz}); done
xz -dc .gpu/h/frames-512.raw.xz > /tmp/frames/frames-512.raw
nvidia-smi -L > $out/gpu.txt
timeout 60 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > $out/export.log 2>&1; note "export rc $?"
whole() { echo "$(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b1.json | head -1) $(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b32.json | head -1)"; }
profile() {  # profile NAME MODEL BUILD ROUND
  left "$1 $3 $4" || return
  timeout 60 /tmp/c/$3 profile $2 $out/$1-$3-$4 --batches 1,32 --iterations 20 --as-product > $out/$1-$3-$4.log 2>&1
  note "$1 $3 round $4 rc $? $(whole $out/$1-$3-$4)"
}
for b in ilgpu-bench ilgpu-bench-old; do profile yolov8n /tmp/yolov8n.onnx $b 1; profile centernet models/centernet-mnv3.onnx $b 1; done
accuracy() {  # accuracy TAG MODEL
  left "accuracy $1" || return
  timeout 40 /tmp/c/ilgpu-bench $2 /tmp/bgr /tmp/acc/$1 --batches 1,8 > $out/accuracy-$1.log 2>&1
  timeout 40 python3 tools/IlgpuBench/compare.py $2 /tmp/acc/$1 $out/compare-$1.json >> $out/accuracy-$1.log 2>&1
  note "accuracy $1"
}
accuracy y /tmp/yolov8n.onnx
accuracy c models/centernet-mnv3.onnx
for b in ilgpu-bench-old ilgpu-bench; do profile yolov8n /tmp/yolov8n.onnx $b 2; profile centernet models/centernet-mnv3.onnx $b 2; done
if left bench; then
  ENGINE=ilgpu MODELS=teacher BATCHES=1,32 TOTAL_S=$(( ${BENCH_END_S:-400} - SECONDS )) MOEDETECT_CAP_S=25 TORCH_CAP_S=${TORCH_CAP_S:-110} \
    TORCH_ENGINES=torch-eager,torch-compiled TEACHER=.gpu/h/teacher/centernet.json scripts/gpu-bench /tmp/b /tmp/frames $out/bench > $out/bench.log 2>&1
  note "bench rc $?"
fi
ncu=$(ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
for b in ilgpu-bench ilgpu-bench-old; do
  left "ncu $b" || continue
  MOEDETECT_ILGPU_TUNE=0 timeout 45 $ncu --csv --page raw --metrics gpu__time_duration.sum,launch__grid_size,launch__registers_per_thread \
    --launch-count 300 /tmp/c/$b profile /tmp/yolov8n.onnx $out/ncu-$b --batches 1 --iterations 1 --as-product > $out/ncu-$b.csv 2> $out/ncu-$b.err
  note "ncu $b rc $?"
done
pack
cat $out/rc.txt; head -16 $out/bench/gpu-bench.md 2>/dev/null
grep -h 'tensor_core_check\|warning' $out/*.log | sort | uniq -c | head -12
