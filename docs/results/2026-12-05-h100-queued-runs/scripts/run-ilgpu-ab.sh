#!/usr/bin/env bash
# Same-run A/B of the ILGPU product path: A = d8f0c8b in /tmp/gpu-a, B = HEAD in /tmp/gpu-bin; --engine ilgpu,
# A and B alternating per model and batch. usage: run-ilgpu-ab.sh OUT [SECONDS]
set -u
out=$1; limit=${2:-540}; o=/tmp/ilab; mkdir -p $o
deadline=$(( $(date +%s) + limit ))
b=/tmp/gpu-bin; a=/tmp/gpu-a
for f in libonnxruntime.so libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so; do ln -sf $b/$f $a/$f; done
chmod +x $a/moedetect $b/moedetect
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
nvidia-smi -L > $o/gpu.txt 2>&1
order="a bin"
for job in yolov8n:/tmp/yolov8n.onnx:640 centernet:models/centernet-mnv3.onnx:512 nanodet-g:models/nanodet-g.onnx:416; do
  IFS=: read n m s <<< "$job"
  for batch in 1 32 8; do
    for app in $order; do
      left=$(( deadline - $(date +%s) )); (( left < 20 )) && { echo "$n b$batch $app skipped (time)" >> $o/status.txt; continue; }
      timeout $(( left < 70 ? left : 70 )) /tmp/gpu-$app/moedetect bench --device gpu --engine ilgpu --model $m --batch $batch --frames 320 \
        --frames-file /tmp/frames-$s.raw --json $o/$n-$batch-$app.json > $o/$n-$batch-$app.log 2>&1
      echo "$n b$batch $app rc=$? $(date +%T)" >> $o/status.txt; tar czf $out/ilab.tgz -C $o .
    done
    order=$(echo $order | tr ' ' '\n' | tac | tr '\n' ' ')
  done
done
cat $o/status.txt
