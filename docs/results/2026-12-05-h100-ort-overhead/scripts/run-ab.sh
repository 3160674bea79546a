#!/usr/bin/env bash
# Same-run A/B of the ORT product path: A = f3b50c8 (steady-state bench), B = 8bba50f (normalisation fold, unsorted
# candidates), YOLOv8n and NanoDet-g, --engine ort, batch 1/8/32, A and B alternating. usage: run-ab.sh OUT
set -u
out=$1; o=/tmp/ab; mkdir -p $o
unxz_py() { python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.stdin.buffer), sys.stdout.buffer)'; }
b=/tmp/gpu-bin; a=/tmp/gpu-a
[[ -f $b/libonnxruntime.so ]] || unxz_py < $b/ort.xz > $b/libonnxruntime.so
[[ -f $b/libonnxruntime_providers_cuda.so ]] || cat $(ls $b/provider.xz.* | sort) | unxz_py > $b/libonnxruntime_providers_cuda.so
for f in libonnxruntime.so libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so; do ln -sf $b/$f $a/$f; done
chmod +x $a/moedetect $b/moedetect
for s in 416 640; do [[ -f /tmp/frames-$s.raw ]] || unxz_py < .gpu/frames/frames-$s.raw.xz > /tmp/frames-$s.raw; done
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
nvidia-smi -L > $o/gpu.txt 2>&1; ls -la $a $b > $o/bins.txt 2>&1
[[ -f /tmp/yolov8n.onnx ]] || timeout 120 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > $o/export.log 2>&1
order="a b"
for model in /tmp/yolov8n.onnx:640 models/nanodet-g.onnx:416; do
  m=${model%%:*}; s=${model##*:}; n=$(basename ${m%.*})
  for batch in 1 8 32; do
    for app in $order; do
      timeout 60 /tmp/gpu-$app/moedetect bench --device gpu --engine ort --model $m --batch $batch --frames 320 \
        --frames-file /tmp/frames-$s.raw --json $o/$n-$batch-$app.json > $o/$n-$batch-$app.log 2>&1
      echo "$n b$batch $app rc=$? $(date +%T)" >> $o/status.txt
      tar czf $out/ab.tgz -C $o .
    done
    order=$(echo $order | rev)
  done
done
cat $o/status.txt; grep -h "overhead" $o/*.log
# Per-kernel device time where Nsight Systems is installed (B, YOLOv8n, batch 8, ORT variants).
ls /usr/local/cuda-13.0/bin > $o/cuda-bin.txt 2>&1
nsys=$(command -v nsys || ls /usr/local/cuda-13.0/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -1)
echo "nsys: ${nsys:-none}" >> $o/status.txt
if [[ -n "$nsys" ]]; then
  timeout 150 $nsys profile -o $o/yolo-b8 --force-overwrite true --stats=false /tmp/gpu-b/moedetect bench --device gpu --engine ort \
    --model /tmp/yolov8n.onnx --batch 8 --frames 160 --frames-file /tmp/frames-640.raw > $o/nsys.log 2>&1
  timeout 60 $nsys stats --report cuda_gpu_kern_sum --format csv -o $o/yolo-b8 $o/yolo-b8.nsys-rep >> $o/nsys.log 2>&1
  rm -f $o/yolo-b8.nsys-rep $o/yolo-b8.sqlite
  tar czf $out/ab.tgz -C $o .
fi
