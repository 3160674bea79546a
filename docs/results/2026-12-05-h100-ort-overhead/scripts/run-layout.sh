#!/usr/bin/env bash
# ORT CUDA provider layout A/B (same run, build in /tmp/gpu-bin): default NCHW, --cuda-layout nhwc, and nhwc with
# --cudnn-fuse-bias, every ORT variant, YOLOv8n / NanoDet-g / CenterNet at batch 1, 8, 32; then ES-MoE NCHW vs NHWC;
# then the ILGPU engine on all four, as time allows. usage: run-layout.sh OUT [SECONDS]
out=$1; limit=${2:-560}; o=/tmp/layout; mkdir -p $o
deadline=$(( $(date +%s) + limit ))
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
nvidia-smi -L > $o/gpu.txt 2>&1
bench() {  # bench NAME MODEL SIZE BATCH CONFIG ENGINE ARGS...
  local n=$1 m=$2 s=$3 b=$4 c=$5 e=$6; shift 6
  local left=$(( deadline - $(date +%s) ))
  (( left < 20 )) && { echo "$n b$b $c $e skipped (time)" >> $o/status.txt; return; }
  timeout $(( left < 90 ? left : 90 )) /tmp/gpu-bin/moedetect bench --device gpu --engine $e --model $m --batch $b --frames 320 \
    --frames-file /tmp/frames-$s.raw --json $o/$n-$b-$c-$e.json "$@" > $o/$n-$b-$c-$e.log 2>&1
  echo "$n b$b $c $e rc=$? $(date +%T)" >> $o/status.txt
  tar czf $out/layout.tgz -C $o .
}
for job in yolov8n:/tmp/yolov8n.onnx:640 nanodet-g:models/nanodet-g.onnx:416 centernet:models/centernet-mnv3.onnx:512; do
  IFS=: read n m s <<< "$job"
  for b in 1 8 32; do
    bench $n $m $s $b nchw ort
    bench $n $m $s $b nhwc ort --cuda-layout nhwc
    bench $n $m $s $b nhwcfuse ort --cuda-layout nhwc --cudnn-fuse-bias
  done
done
for b in 1 8 32; do
  bench esmoe models/esmoe-centernet.moedet 512 $b nchw ort
  bench esmoe models/esmoe-centernet.moedet 512 $b nhwc ort --cuda-layout nhwc
done
for job in yolov8n:/tmp/yolov8n.onnx:640 nanodet-g:models/nanodet-g.onnx:416 centernet:models/centernet-mnv3.onnx:512 esmoe:models/esmoe-centernet.moedet:512; do
  IFS=: read n m s <<< "$job"
  for b in 1 8 32; do bench $n $m $s $b nchw ilgpu; done
done
cat $o/status.txt; grep -h "overhead" $o/*.log | head -40
