#!/usr/bin/env bash
# Tensor-core GEMM (TF32 mma.sync, cp.async) on the GPU machine, from the repository root (docs/gpu-bench.md,
# "Tensor cores"): ptxas on the kernel's PTX (each tile), ilgpu-bench's kernel bench
# (tensor cores vs SIMT per layer) for the models named with KERNELS, then the product bench with the launch search
# free to pick tensor cores (tc1, MOEDETECT_ILGPU_TENSOR_CORES=1) and kept off them (tc0), alternating order, for each
# name:batch in RUNS. Expects /tmp/gpu-bin (scripts/gpu-pack piece 00, ort unpacked), /tmp/ilb/ilgpu-bench, the frames
# in /tmp/frames-*.raw and YOLOv8n in /tmp/yolov8n.onnx. usage: tensor-core-ab.sh OUT SECONDS "KERNELS" RUNS...
set -u
out=$1; limit=$2; kernels=$3; shift 3; o=/tmp/tc; mkdir -p $o
deadline=$(( $(date +%s) + limit ))
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
declare -A model=([yolov8n]=/tmp/yolov8n.onnx [centernet]=models/centernet-mnv3.onnx [esmoe]=models/esmoe-centernet.moedet [nanodet-g]=models/nanodet-g.onnx)
declare -A size=([yolov8n]=640 [centernet]=512 [esmoe]=512 [nanodet-g]=416)
nvidia-smi -L > $o/gpu.txt 2>&1
for tile in 64x64 32x128; do
  /usr/local/cuda-13.0/bin/ptxas -arch=sm_90 -v ${PTX:-.gpu/ptx}/tensor-core-$tile-promoted.ptx -o /tmp/tc-$tile.cubin > $o/ptxas-$tile.txt 2>&1
  echo "ptxas $tile rc=$? $(date +%T)" >> $o/status.txt
done
chmod +x /tmp/ilb/ilgpu-bench /tmp/gpu-bin/moedetect
for n in $kernels; do
  timeout 120 /tmp/ilb/ilgpu-bench kernels ${model[$n]} $o/k-$n --batches 1,32 --iterations 10 > $o/k-$n.log 2>&1
  echo "kernels $n rc=$? $(date +%T)" >> $o/status.txt; tar czf $out/tc.tgz -C $o .
done
order="0 1"
for run in "$@"; do
  IFS=: read n batch <<< "$run"
  for tc in $order; do
    left=$(( deadline - $(date +%s) )); (( left < 25 )) && { echo "$n b$batch tc$tc skipped (time)" >> $o/status.txt; continue; }
    MOEDETECT_ILGPU_TENSOR_CORES=$tc timeout $(( left < 80 ? left : 80 )) /tmp/gpu-bin/moedetect bench --device gpu --engine ilgpu --model ${model[$n]} \
      --batch $batch --frames 320 --frames-file /tmp/frames-${size[$n]}.raw --json $o/$n-$batch-tc$tc.json > $o/$n-$batch-tc$tc.log 2>&1
    echo "$n b$batch tc$tc rc=$? $(date +%T)" >> $o/status.txt; tar czf $out/tc.tgz -C $o .
  done
  order=$(echo $order | tr ' ' '\n' | tac | tr '\n' ' ')
done
cat $o/status.txt
