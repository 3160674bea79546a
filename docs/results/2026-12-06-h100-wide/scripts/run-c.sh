#!/usr/bin/env bash
# Call C on the H100: the strided copy walking collapsed dimensions (new) against be819ea (old, with the wide tile
# turned on so that only the copy differs): ptxas of the copy kernel, whole-plan profiles alternating (YOLOv8n,
# CenterNet; batch 1 and 32). Usage: run-c.sh OUT LIMIT_S
out=$1; limit=$2; o=/tmp/r; mkdir -p $o
deadline=$(( $(date +%s) + limit ))
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
for v in head new; do cp .gpu/ilb/$v/ilgpu-bench /tmp/ilb-$v; chmod +x /tmp/ilb-$v; done
save() { echo "$1 $(date +%T)" >> $o/status.txt; tar czf $out/r.tgz -C $o .; }
left() { echo $(( deadline - $(date +%s) )); }
nvidia-smi -L > $o/gpu.txt 2>&1
(timeout 100 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > $o/yolo-export.log 2>&1; echo "yolo export rc=$? $(date +%T)" >> $o/status.txt) &
/usr/local/cuda-13.0/bin/ptxas -arch=sm_90 -v .gpu/ptx/copy.ptx -o /tmp/copy.cubin > $o/ptxas-copy.txt 2>&1; save "ptxas rc=$?"
wait
for m in yolov8n centernet; do
  f=models/centernet-mnv3.onnx; [ $m = yolov8n ] && f=/tmp/yolov8n.onnx
  for v in new head new head; do
    (( $(left) < 30 )) && { save "$m $v skipped"; continue; }
    r=$m-$v-$(date +%s)
    MOEDETECT_ILGPU_WIDE_TILE=1 timeout 60 /tmp/ilb-$v profile $f $o/p-$r --batches 1,32 --iterations 20 > $o/p-$r.log 2>&1; save "$r profile rc=$?"
  done
done
cat $o/status.txt
