#!/usr/bin/env bash
# Call A on the H100 (be819ea + the gpu-bench ENGINE/MODELS knobs): the product path (moedetect bench --device gpu
# --engine ilgpu, YOLOv8n and the teacher CenterNet), then the 32 x 128 tensor-core tile against the 64 x 64 one
# (MOEDETECT_ILGPU_WIDE_TILE, same ilgpu-bench build): ptxas, tensor-core layers alone, whole-plan profiles
# alternating; then ncu on the tensor-core launches. Usage: run-a.sh OUT LIMIT_S
out=$1; limit=$2; o=/tmp/r; mkdir -p $o
deadline=$(( $(date +%s) + limit ))
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
ilb=/tmp/ilb; cp .gpu/ilb/head/ilgpu-bench $ilb; chmod +x $ilb
save() { echo "$1 $(date +%T)" >> $o/status.txt; tar czf $out/r.tgz -C $o --exclude='*.bin' --exclude='*.sass' .; }
left() { echo $(( deadline - $(date +%s) )); }
nvidia-smi -L > $o/gpu.txt 2>&1
(timeout 100 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > $o/yolo-export.log 2>&1; echo "yolo export rc=$? $(date +%T)" >> $o/status.txt) &
for p in .gpu/ptx/*.ptx; do
  n=$(basename $p .ptx); /usr/local/cuda-13.0/bin/ptxas -arch=sm_90 -v $p -o /tmp/$n.cubin > $o/ptxas-$n.txt 2>&1
done; save "ptxas rc=$?"
ENGINE=ilgpu STEPS='export moedetect' MODELS='yolov8n teacher' TOTAL_S=220 MOEDETECT_CAP_S=60 \
  scripts/gpu-bench .gpu/prod/bin .gpu/prod $o/product > $o/product.log 2>&1; save "product rc=$?"
wait
for w in 0 1; do
  MOEDETECT_ILGPU_WIDE_TILE=$w timeout 60 $ilb kernels /tmp/yolov8n.onnx $o/k-yolov8n-w$w --batches 32 --iterations 10 --tensor-cores-only > $o/k-yolov8n-w$w.log 2>&1; save "kernels yolov8n wide=$w rc=$?"
done
for m in yolov8n centernet; do
  f=models/centernet-mnv3.onnx; [ $m = yolov8n ] && f=/tmp/yolov8n.onnx
  for w in 1 0 1 0; do
    (( $(left) < 90 )) && { save "$m w$w skipped"; continue; }
    r=$m-w$w-$(date +%s)
    MOEDETECT_ILGPU_WIDE_TILE=$w timeout 60 $ilb profile $f $o/p-$r --batches 1,32 --iterations 20 > $o/p-$r.log 2>&1; save "$r profile rc=$?"
  done
done
l=$(left); (( l > 40 )) && { MOEDETECT_ILGPU_WIDE_TILE=1 timeout $(( l - 10 )) /usr/local/cuda/bin/ncu --csv --page details --kernel-name regex:Kernel_Run --filter-mode per-launch-config --launch-count 1 \
  --section SpeedOfLight --section LaunchStats --section Occupancy --section WarpStateStats --section SchedulerStats --section InstructionStats --section MemoryWorkloadAnalysis \
  $ilb kernels /tmp/yolov8n.onnx $o/n-yolov8n --batches 32 --iterations 1 --tensor-cores-only > $o/ncu.csv 2> $o/ncu.err; save "ncu rc=$?"; }
cat $o/status.txt
