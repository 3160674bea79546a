#!/usr/bin/env bash
# Call P on the GPU machine: ptxas's register and spill report for the tensor-core GEMM with scalar shared-memory reads
# (27826e6, B) and with the 8- and 16-byte reads tried in call O (C), then the product path of eb6f360 against PyTorch
# on three models (scripts/gpu-bench; .gpu/prod holds the trimmed moedetect, ONNX Runtime's CPU library and the frames).
# Usage: run-p.sh OUT
out=$1
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
mkdir -p "$out/ptxas" /tmp/ptx
for f in .gpu/prod/ptx/*.ptx.xz; do
  name=$(basename "${f%.ptx.xz}")
  xz -dc "$f" > /tmp/ptx/$name.ptx
  timeout 60 /usr/local/cuda/bin/ptxas -arch=sm_90 -v -o /tmp/ptx/$name.cubin /tmp/ptx/$name.ptx > "$out/ptxas/$name.txt" 2>&1
done
ENGINE=ilgpu MODELS='yolov8n teacher student' TOTAL_S=400 MOEDETECT_CAP_S=50 TORCH_CAP_S=130 TEACHER=.gpu/final/teacher/centernet.json \
  scripts/gpu-bench .gpu/prod/bin .gpu/prod "$out"
