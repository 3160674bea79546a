#!/usr/bin/env bash
# Every bench engine (ORT host / IOBinding / IOBinding + CUDA graph / ORT alone, ILGPU) at the defaults, one process
# per model and batch: CenterNet, YOLOv8n, the ES-MoE model, NanoDet-g; build in /tmp/gpu-bin. usage: run-final.sh OUT [SECONDS]
out=$1; limit=${2:-480}; o=/tmp/final; mkdir -p $o
deadline=$(( $(date +%s) + limit ))
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
nvidia-smi -L > $o/gpu.txt 2>&1
for job in centernet:models/centernet-mnv3.onnx:512 yolov8n:/tmp/yolov8n.onnx:640 esmoe:models/esmoe-centernet.moedet:512 nanodet-g:models/nanodet-g.onnx:416; do
  IFS=: read n m s <<< "$job"
  for b in 1 8 32; do
    left=$(( deadline - $(date +%s) ))
    (( left < 30 )) && { echo "$n b$b skipped (time)" >> $o/status.txt; continue; }
    timeout $(( left < 110 ? left : 110 )) /tmp/gpu-bin/moedetect bench --device gpu --model $m --batch $b --frames 320 \
      --frames-file /tmp/frames-$s.raw --json $o/$n-$b.json > $o/$n-$b.log 2>&1
    echo "$n b$b rc=$? $(date +%T)" >> $o/status.txt
    tar czf $out/final.tgz -C $o .
  done
done
cat $o/status.txt
