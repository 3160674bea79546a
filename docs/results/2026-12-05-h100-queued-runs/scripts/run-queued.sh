#!/usr/bin/env bash
# ORT product path with runs synced and queued, in every layout, with ORT alone: HEAD in /tmp/gpu-bin, --engine ort.
# usage: run-queued.sh OUT [SECONDS]
set -u
out=$1; limit=${2:-540}; o=/tmp/queued; mkdir -p $o
deadline=$(( $(date +%s) + limit ))
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
nvidia-smi -L > $o/gpu.txt 2>&1
for job in yolov8n:/tmp/yolov8n.onnx:640:1 centernet:models/centernet-mnv3.onnx:512:1 yolov8n:/tmp/yolov8n.onnx:640:32 \
           yolov8n:/tmp/yolov8n.onnx:640:8 centernet:models/centernet-mnv3.onnx:512:32 centernet:models/centernet-mnv3.onnx:512:8; do
  IFS=: read n m s batch <<< "$job"
  left=$(( deadline - $(date +%s) )); (( left < 30 )) && { echo "$n b$batch skipped (time)" >> $o/status.txt; continue; }
  timeout $(( left < 110 ? left : 110 )) /tmp/gpu-bin/moedetect bench --device gpu --engine ort --model $m --batch $batch --frames 320 \
    --frames-file /tmp/frames-$s.raw --json $o/$n-$batch.json > $o/$n-$batch.log 2>&1
  echo "$n b$batch rc=$? $(date +%T)" >> $o/status.txt; tar czf $out/queued.tgz -C $o .
done
cat $o/status.txt; grep -h "overhead" $o/*.log | head -30
