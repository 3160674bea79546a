#!/usr/bin/env bash
# One call: A/B of two ilgpu-bench builds, old (before the copy rework, 3b63444) and chunks (3ff9b07): ptxas/SASS of both
# kernels, tensor-core layers alone (YOLOv8n b32), whole-plan profiles alternating (YOLOv8n, CenterNet; b1, b32); then
# the chunks build end to end (ilgpu-bench default mode) against PyTorch eager / compiled (bench_torch.py), then ncu.
out=$1; limit=$2; o=/tmp/r; mkdir -p $o
deadline=$(( $(date +%s) + limit ))
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
for v in old chunks; do cp .gpu/ilb/$v/ilgpu-bench /tmp/ilb-$v; chmod +x /tmp/ilb-$v; done
# Logs and JSON only: the default mode's input/output dumps (.bin) and the SASS are too large to come back.
save() { echo "$1 $(date +%T)" >> $o/status.txt; tar czf $out/r.tgz -C $o --exclude='*.bin' --exclude='*.sass' .; }
left() { echo $(( deadline - $(date +%s) )); }
nvidia-smi -L > $o/gpu.txt 2>&1
(timeout 100 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > $o/yolo-export.log 2>&1; echo "yolo export rc=$? $(date +%T)" >> $o/status.txt) &
for p in tensor-core-promoted tensor-core-chunks; do
  /usr/local/cuda-13.0/bin/ptxas -arch=sm_90 -v .gpu/ptx/$p.ptx -o /tmp/$p.cubin > $o/ptxas-$p.txt 2>&1
  /usr/local/cuda-13.0/bin/cuobjdump -sass /tmp/$p.cubin > $o/$p.sass 2>&1
done; save "ptxas+sass rc=$?"
timeout 60 /tmp/ilb-chunks kernels models/centernet-mnv3.onnx $o/k-centernet-chunks --batches 32 --iterations 10 --tensor-cores-only > $o/k-centernet-chunks.log 2>&1; save "kernels centernet chunks rc=$?"
wait
for v in old chunks; do timeout 60 /tmp/ilb-$v kernels /tmp/yolov8n.onnx $o/k-yolov8n-$v --batches 32 --iterations 10 --tensor-cores-only > $o/k-yolov8n-$v.log 2>&1; save "kernels yolov8n $v rc=$?"; done
for m in yolov8n centernet; do
  f=models/centernet-mnv3.onnx; [ $m = yolov8n ] && f=/tmp/yolov8n.onnx
  for v in chunks old chunks old; do
    l=$(left); (( l < 200 )) && { save "$m $v skipped"; continue; }
    r=$m-$v-$(date +%s)
    timeout 60 /tmp/ilb-$v profile $f $o/p-$r --batches 1,32 --iterations 20 > $o/p-$r.log 2>&1; save "$r profile rc=$?"
  done
done
for m in yolov8n centernet; do
  f=models/centernet-mnv3.onnx; [ $m = yolov8n ] && f=/tmp/yolov8n.onnx
  l=$(left); (( l < 150 )) && { save "e2e $m skipped"; continue; }
  timeout 60 /tmp/ilb-chunks $f .gpu/final/frames $o/i-$m --batches 1,8,32 --iterations 20 > $o/i-$m.log 2>&1; save "e2e $m rc=$?"
done
l=$(left); (( l > 60 )) && { timeout $(( l - 20 )) python3 training/bench_torch.py --model yolov8n,teacher --teacher .gpu/final/teacher/centernet.json \
  --batches 1,8,32 --budget-s $(( l - 70 )) > $o/torch.jsonl 2> $o/torch.err; save "torch rc=$?"; }
l=$(left); (( l > 40 )) && { timeout $(( l - 10 )) /usr/local/cuda/bin/ncu --csv --page details --kernel-name regex:Kernel_Run --filter-mode per-launch-config --launch-count 1 \
  --section SpeedOfLight --section LaunchStats --section Occupancy --section WarpStateStats --section SchedulerStats --section InstructionStats \
  /tmp/ilb-chunks kernels /tmp/yolov8n.onnx $o/n-yolov8n --batches 32 --iterations 1 --tensor-cores-only > $o/ncu.csv 2> $o/ncu.err; save "ncu rc=$?"; }
cat $o/status.txt
