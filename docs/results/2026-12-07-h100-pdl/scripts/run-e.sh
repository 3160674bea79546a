#!/usr/bin/env bash
# Call E: where a kernel releases the grids that depend on it. MOEDETECT_PROGRAMMATIC_LAUNCH=1 waits and releases at
# once (call D: CenterNet 2 % faster at batch 1, YOLOv8n 10 % slower); =wait only waits, and its dependents are released
# as its groups end; =0 is off. Same bundle as run-c.sh (.gpu/c).
#  1. ilgpu-bench profile, whole-plan medians: CenterNet (detections output) and YOLOv8n at batch 1 and 32, the three
#     modes alternated for two rounds; the ES-MoE routed run once per mode.
#  2. outputs with =wait against off (numpy) and against ONNX Runtime (CPU).
#  3. the product path at batch 1 (moedetect bench, frames in memory), =wait against off, CenterNet and YOLOv8n.
final=$1; out=/tmp/eout; mkdir -p $out /tmp/c /tmp/frames /tmp/acc /tmp/bgr
pack() { tar czf $final/all.tgz -C $out . 2>/dev/null; cp $out/rc.txt $final/ 2>/dev/null; }
left() { (( SECONDS < ${BUDGET_S:-240} )) || { echo "skipped: $*" >> $out/rc.txt; return 1; }; }
export LD_LIBRARY_PATH=/tmp/c:/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
cp .gpu/c/ilgpu-bench .gpu/c/moedetect .gpu/c/libonnxruntime_providers_shared.so /tmp/c/ && chmod +x /tmp/c/*
xz -dc .gpu/c/ort.xz > /tmp/c/libonnxruntime.so
for f in .gpu/c/frames/*.xz; do xz -dc $f > /tmp/frames/$(basename ${f%.xz}); done
mv /tmp/frames/*.bgr /tmp/bgr/
nvidia-smi -L > $out/gpu.txt
timeout 60 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > $out/export.log 2>&1; echo "export rc $? ${SECONDS}s" >> $out/rc.txt
b=/tmp/c/ilgpu-bench
whole() { echo "$(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b1.json | head -1) $(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b32.json | head -1) $(grep -o 'CUDA graphs, [0-9]* programmatic' $1/profile_b1.json | head -1)"; }
profile() {  # profile NAME MODEL MODE ROUND [extra args]
  left "$1 $3 $4" || return
  MOEDETECT_PROGRAMMATIC_LAUNCH=$3 timeout 60 $b profile $2 $out/$1-$3-$4 --batches 1,32 --iterations 20 "${@:5}" > $out/$1-$3-$4.log 2>&1
  echo "$1 mode=$3 round $4 rc $? ${SECONDS}s $(whole $out/$1-$3-$4)" >> $out/rc.txt; pack
}
for r in 1 2; do for mode in wait 0 1; do
  profile centernet models/centernet-mnv3.onnx $mode $r --outputs detections
  profile yolov8n /tmp/yolov8n.onnx $mode $r
  [[ $r == 1 ]] && profile student models/esmoe-centernet.moedet $mode $r
done; done
for mode in wait 0; do
  left "accuracy $mode" || continue
  MOEDETECT_PROGRAMMATIC_LAUNCH=$mode timeout 60 $b models/centernet-mnv3.onnx /tmp/bgr /tmp/acc/c$mode --batches 1,8 > $out/accuracy-c$mode.log 2>&1
  MOEDETECT_PROGRAMMATIC_LAUNCH=$mode timeout 60 $b /tmp/yolov8n.onnx /tmp/bgr /tmp/acc/y$mode --batches 1,8 > $out/accuracy-y$mode.log 2>&1
done
echo "accuracy runs ${SECONDS}s" >> $out/rc.txt
python3 - > $out/wait-vs-off.txt 2>&1 <<'PY'
import glob, os, numpy as np
for f in sorted(glob.glob("/tmp/acc/[cy]wait/*_b*.bin")):
    if os.path.basename(f).startswith("input_"): continue
    x, y = np.fromfile(f, np.float32), np.fromfile(f.replace("wait/", "0/"), np.float32)
    print(f.split("/")[-2], os.path.basename(f), "max abs diff wait vs off", float(np.abs(x - y).max()) if x.shape == y.shape else "shapes differ", "max abs", float(np.abs(x).max()))
PY
left compare && timeout 60 python3 tools/IlgpuBench/compare.py models/centernet-mnv3.onnx /tmp/acc/cwait $out/compare-cwait.json >> $out/accuracy-cwait.log 2>&1
left compare && timeout 60 python3 tools/IlgpuBench/compare.py /tmp/yolov8n.onnx /tmp/acc/ywait $out/compare-ywait.json >> $out/accuracy-ywait.log 2>&1
echo "compare ${SECONDS}s" >> $out/rc.txt; pack
python3 - <<'PY'  # the product bench's 640 x 640 frames for YOLOv8n, as in run-c.sh
import glob, struct, cv2, numpy as np
frames = [np.fromfile(f, np.uint8).reshape(720, 1280, 3) for f in sorted(glob.glob("/tmp/bgr/*.bgr"))] * 4
with open("/tmp/frames/frames-640.raw", "wb") as o:
    o.write(b"MDFRAMES" + struct.pack("<4i", 1, len(frames), 640, 640))
    for f in frames:
        canvas = np.full((640, 640, 3), 114, np.uint8); canvas[140:500] = cv2.resize(f, (640, 360), interpolation=cv2.INTER_LINEAR)
        o.write(struct.pack("<2i", 1280, 720)); o.write(canvas.tobytes())
PY
for m in "centernet models/centernet-mnv3.onnx /tmp/frames/frames-512.raw" "yolov8n /tmp/yolov8n.onnx /tmp/frames/frames-640.raw"; do
  set -- $m; for mode in wait 0; do
    left "product $1 $mode" || continue
    MOEDETECT_PROGRAMMATIC_LAUNCH=$mode timeout 45 /tmp/c/moedetect bench --device gpu --engine ilgpu --model $2 --frames-file $3 \
      --batch 1 --frames 512 --json $out/product-$1-$mode.json >> $out/product.log 2>&1
    echo "product $1 b1 mode=$mode rc $? ${SECONDS}s" >> $out/rc.txt; pack
  done
done
pack; cp $out/wait-vs-off.txt $final/
cat $out/rc.txt $out/wait-vs-off.txt; grep -h '"max_abs_error_vs_ort_cpu"' -A3 $out/accuracy-*wait.log | head -20
