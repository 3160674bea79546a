#!/usr/bin/env bash
# Device time of the candidate-selection and normalisation kernels (Nsight Compute), NanoDet-g and YOLOv8n, batch 32,
# ORT IOBinding variants (the host-tensor variant, which has neither, is skipped). usage: run-ncu2.sh OUT
out=$1; o=/tmp/ncu2; mkdir -p $o
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
for job in nanodet-g:models/nanodet-g.onnx:416 yolov8n:/tmp/yolov8n.onnx:640; do
  IFS=: read n m s <<< "$job"
  timeout 240 /usr/local/cuda/bin/ncu --csv --metrics gpu__time_duration.sum \
    --kernel-name regex:'TopK|Gather|[Rr]educe|Cast|Expand|Transpose|BinaryElementWise|UnaryElementWise<unsigned|Concat|Slice|Identity|Impl_Cast' \
    --launch-count 700 /tmp/gpu-bin/moedetect bench --device gpu --engine ort --model $m --batch 32 --frames 64 \
    --frames-file /tmp/frames-$s.raw > $o/$n-b32.csv 2> $o/$n-b32.err
  echo "$n rc=$? $(date +%T)" >> $o/status.txt
  tar czf $out/ncu2.tgz -C $o .
done
cat $o/status.txt; wc -l $o/*.csv
