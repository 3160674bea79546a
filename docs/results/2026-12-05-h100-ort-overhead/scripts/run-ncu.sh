#!/usr/bin/env bash
# Device time of each non-convolution kernel (Nsight Compute) in the first runs of the ORT product graph (host-tensor
# variant first), NanoDet-g and YOLOv8n at batch 32, build in /tmp/gpu-bin. usage: run-ncu.sh OUT
out=$1; o=/tmp/ncu; mkdir -p $o
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
for job in nanodet-g:models/nanodet-g.onnx:416 yolov8n:/tmp/yolov8n.onnx:640; do
  IFS=: read n m s <<< "$job"
  timeout 200 /usr/local/cuda/bin/ncu --csv --metrics gpu__time_duration.sum \
    --kernel-name regex:'^(?!.*(xmma|cutlass|cudnn|sm90_|sm80_|implicit_convolve|gemm|Conv|conv|winograd|fft)).*' \
    --launch-count 500 /tmp/gpu-bin/moedetect bench --device gpu --engine ort --model $m --batch 32 --frames 64 \
    --frames-file /tmp/frames-$s.raw > $o/$n-b32.csv 2> $o/$n-b32.err
  echo "$n rc=$? $(date +%T)" >> $o/status.txt
  tar czf $out/ncu.tgz -C $o .
done
cat $o/status.txt; tail -3 $o/*.err; wc -l $o/*.csv
