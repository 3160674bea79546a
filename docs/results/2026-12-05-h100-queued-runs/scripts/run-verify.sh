#!/usr/bin/env bash
# Every engine at the defaults for NanoDet-g (batch 1/8/32) and YOLOv8n (batch 1): the rows the first run of queued defaults lost to an abort.
set -u
out=$1; limit=${2:-300}; o=/tmp/verify; mkdir -p $o
deadline=$(( $(date +%s) + limit ))
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
nvidia-smi -L > $o/gpu.txt 2>&1
for job in nanodet-g:models/nanodet-g.onnx:416:1 yolov8n:/tmp/yolov8n.onnx:640:1 nanodet-g:models/nanodet-g.onnx:416:8 nanodet-g:models/nanodet-g.onnx:416:32; do
  IFS=: read n m s b <<< "$job"
  left=$(( deadline - $(date +%s) )); (( left < 30 )) && { echo "$n b$b skipped (time)" >> $o/status.txt; continue; }
  timeout $(( left < 110 ? left : 110 )) /tmp/gpu-bin/moedetect bench --device gpu --model $m --batch $b --frames 320 \
    --frames-file /tmp/frames-$s.raw --json $o/$n-$b.json > $o/$n-$b.log 2>&1
  echo "$n b$b rc=$? $(date +%T)" >> $o/status.txt; tar czf $out/verify.tgz -C $o .
done
cat $o/status.txt
