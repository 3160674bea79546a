#!/usr/bin/env bash
# Second call: YOLOv8n profiles with tensor cores on by default vs MOEDETECT_ILGPU_TENSOR_CORES=0 (alternating), CenterNet
# end to end (device letterbox BGR and NV12) against ONNX Runtime CPU with tensor cores on and off.
out=$1; limit=$2; o=/tmp/r2; mkdir -p $o
deadline=$(( $(date +%s) + limit ))
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
b=/tmp/ilgpu-bench; cp .gpu/ilb/ilgpu-bench $b; chmod +x $b
save() { echo "$1 $(date +%T)" >> $o/status.txt; tar czf $out/r2.tgz -C $o .; }
left() { echo $(( deadline - $(date +%s) )); }
nvidia-smi -L > $o/gpu.txt 2>&1
(timeout 100 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > $o/yolo-export.log 2>&1; echo "yolo export rc=$? $(date +%T)" >> $o/status.txt) &
mkdir -p /tmp/frames; python3 - .gpu/jpg /tmp/frames <<'PY'
import glob, os, sys, cv2
for f in glob.glob(f'{sys.argv[1]}/*.jpg'):
    im = cv2.imread(f); h, w = im.shape[:2]; im.tofile(f'{sys.argv[2]}/{os.path.basename(f)[:-4]}_{w}x{h}.bgr')
PY
for tc in default 0; do
  l=$(left); (( l < 40 )) && { save "e2e tc$tc skipped"; continue; }
  MOEDETECT_ILGPU_TENSOR_CORES=${tc/default/} timeout 90 $b models/centernet-mnv3.onnx /tmp/frames $o/e2e-tc$tc --batches 1,8 --iterations 20 > $o/e2e-tc$tc.log 2>&1; save "e2e tc$tc rc=$?"
  timeout 60 python3 tools/IlgpuBench/compare.py models/centernet-mnv3.onnx $o/e2e-tc$tc $o/e2e-tc$tc-vs-ort.json > /dev/null 2>&1; save "compare tc$tc rc=$?"
  rm -f $o/e2e-tc$tc/*.bin
done
wait
for tc in default 0 default 0; do
  l=$(left); (( l < 30 )) && { save "yolov8n tc$tc skipped"; continue; }
  r=yolov8n-tc$tc-$(date +%s)
  env MOEDETECT_ILGPU_TENSOR_CORES=${tc/default/} timeout $(( l < 80 ? l : 80 )) $b profile /tmp/yolov8n.onnx $o/p-$r --batches 1,32 --iterations 20 > $o/p-$r.log 2>&1; save "$r profile rc=$?"
done
cat $o/status.txt
