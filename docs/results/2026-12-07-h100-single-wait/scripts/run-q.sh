#!/usr/bin/env bash
# Call Q: the product path (moedetect bench --device gpu --engine ilgpu, HEAD 2805418) against PyTorch eager FP16 and
# torch.compile (reduce-overhead, CUDA graphs) FP16, CenterNet (default model) and YOLOv8n, batch 1 and 32.
# Also the plans alone (ilgpu-bench profile --as-product). Carry .gpu/q. Usage: run-q.sh OUT
final=$1; mkdir -p /tmp/b
cp .gpu/q/bin/* /tmp/b/ && xz -dc .gpu/q/bin/moedetect.xz > /tmp/b/moedetect && chmod +x /tmp/b/moedetect && rm /tmp/b/moedetect.xz
cp -r .gpu/q/frames /tmp/frames
nvidia-smi -L > $final/gpu.txt
# The plan alone (ilgpu-bench profile --as-product, same build), to set the bench's inference stage against.
xz -dc .gpu/q/ilgpu-bench.xz > /tmp/b/ilgpu-bench && chmod +x /tmp/b/ilgpu-bench && xz -dc /tmp/b/ort.xz > /tmp/b/libonnxruntime.so
export LD_LIBRARY_PATH=/tmp/b:/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
timeout 60 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > $final/export.log 2>&1
for m in /tmp/yolov8n.onnx models/centernet-mnv3.onnx; do
  n=$(basename ${m%.onnx}); timeout 60 /tmp/b/ilgpu-bench profile $m $final/profile-$n --batches 1,32 --iterations 20 --as-product > $final/profile-$n.log 2>&1
  echo "profile $n rc $? ${SECONDS}s" >> $final/rc.txt
done
ENGINE=ilgpu MODELS="teacher yolov8n" BATCHES=1,32 TOTAL_S=$(( ${END_S:-575} - SECONDS )) MOEDETECT_CAP_S=45 TORCH_CAP_S=${TORCH_CAP_S:-180} \
  TORCH_ENGINES=torch-eager,torch-compiled TEACHER=.gpu/q/teacher/centernet.json scripts/gpu-bench /tmp/b /tmp/frames $final/bench > $final/bench.log 2>&1
echo "bench rc $? ${SECONDS}s" >> $final/rc.txt
cat $final/rc.txt; head -20 $final/bench/gpu-bench.md; tail -30 $final/bench/gpu-bench.log
