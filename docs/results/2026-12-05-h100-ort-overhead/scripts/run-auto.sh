#!/usr/bin/env bash
# The default GPU bench (every engine, every ORT layout) on YOLOv8n and the ES-MoE model at batch 1, then the engine
# choice file it wrote (ort_layout). usage: run-auto.sh OUT
out=$1; o=/tmp/auto; mkdir -p $o
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export MOEDETECT_ENGINE_CHOICE=$o/engine-choice.json
for job in yolov8n:/tmp/yolov8n.onnx:640 esmoe:models/esmoe-centernet.moedet:512; do
  IFS=: read n m s <<< "$job"
  timeout 100 /tmp/gpu-bin/moedetect bench --device gpu --model $m --batch 1 --frames 320 --frames-file /tmp/frames-$s.raw \
    --json $o/$n-1.json > $o/$n-1.log 2>&1
  echo "$n rc=$? $(date +%T)" >> $o/status.txt
  tar czf $out/auto.tgz -C $o .
done
cat $o/status.txt; grep -h "auto will pick\|overhead" $o/*.log; cat $o/engine-choice.json
