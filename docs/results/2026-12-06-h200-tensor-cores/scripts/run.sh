#!/usr/bin/env bash
# One call: ptxas on the tensor-core PTX, per-layer TC vs SIMT (ilgpu-bench kernels), whole-net profiles tc0/tc1.
out=$1; limit=$2; o=/tmp/tc; mkdir -p $o
deadline=$(( $(date +%s) + limit ))
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
b=/tmp/ilgpu-bench; cp .gpu/ilb/ilgpu-bench $b; chmod +x $b
save() { echo "$1 $(date +%T)" >> $o/status.txt; tar czf $out/tc.tgz -C $o .; }
left() { echo $(( deadline - $(date +%s) )); }
nvidia-smi -L > $o/gpu.txt 2>&1
/usr/local/cuda-13.0/bin/ptxas -arch=sm_90 -v .gpu/ptx/tensor-core-promoted.ptx -o /tmp/tc.cubin > $o/ptxas.txt 2>&1; save "ptxas rc=$?"
(timeout 100 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > $o/yolo-export.log 2>&1; echo "yolo export rc=$? $(date +%T)" >> $o/status.txt) &
MOEDETECT_ILGPU_TENSOR_CORES=1 timeout 100 $b kernels models/centernet-mnv3.onnx $o/k-centernet --batches 1,32 --iterations 10 > $o/k-centernet.log 2>&1; save "kernels centernet rc=$?"
wait
for m in centernet yolov8n; do
  f=models/centernet-mnv3.onnx; [ $m = yolov8n ] && f=/tmp/yolov8n.onnx
  for tc in 1 0 1 0; do
    l=$(left); (( l < 30 )) && { save "$m tc$tc skipped"; continue; }
    r=$m-tc$tc-$(date +%s)
    MOEDETECT_ILGPU_TENSOR_CORES=$tc timeout $(( l < 90 ? l : 90 )) $b profile $f $o/p-$r --batches 1,32 --iterations 20 > $o/p-$r.log 2>&1; save "$r profile rc=$?"
  done
  if [ $m = centernet ] && (( $(left) > 120 )); then MOEDETECT_ILGPU_TENSOR_CORES=1 timeout 90 $b kernels /tmp/yolov8n.onnx $o/k-yolov8n --batches 32 --iterations 10 > $o/k-yolov8n.log 2>&1; save "kernels yolov8n rc=$?"; fi
done
cat $o/status.txt
