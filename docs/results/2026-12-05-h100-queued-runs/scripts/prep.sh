#!/usr/bin/env bash
# Unpacks /tmp/gpu-bin (scripts/gpu-pack pieces), the frames and exports YOLOv8n to /tmp/yolov8n.onnx.
unxz_py() { python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.stdin.buffer), sys.stdout.buffer)'; }
b=/tmp/gpu-bin
[[ -f $b/libonnxruntime.so ]] || unxz_py < $b/ort.xz > $b/libonnxruntime.so
[[ -f $b/libonnxruntime_providers_cuda.so ]] || cat $(ls $b/provider.xz.* | sort) | unxz_py > $b/libonnxruntime_providers_cuda.so
chmod +x $b/moedetect
for s in 416 512 640; do [[ -f /tmp/frames-$s.raw ]] || unxz_py < .gpu/frames/frames-$s.raw.xz > /tmp/frames-$s.raw; done
[[ -f /tmp/yolov8n.onnx ]] || timeout 120 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > /tmp/export.log 2>&1
ls -la $b /tmp/yolov8n.onnx
