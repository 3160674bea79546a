#!/usr/bin/env bash
# Call C: programmatic dependent launch (ILGPU engine's CUDA graphs) on (MOEDETECT_PROGRAMMATIC_LAUNCH=1; the default
# in 458f3f2, the build it ran) against off (=0), same build, same machine. Carry .gpu/c: ilgpu-bench and moedetect
# (trimmed single files), libonnxruntime_providers_shared.so, ort.xz, frames/ (two 1280x720 .bgr.xz, frames-512.raw.xz).
#  1. ilgpu-bench profile: whole-plan medians (device time of one graph replay) of CenterNet (detections output) and
#     YOLOv8n at batch 1 and 32, on/off alternated for two rounds; the ES-MoE routed run one round each way.
#  2. outputs with it on against off (numpy: should be equal) and against ONNX Runtime (CPU), CenterNet and YOLOv8n.
#  3. the product path (moedetect bench --device gpu --engine ilgpu, frames in memory), on/off alternated: CenterNet and
#     YOLOv8n at batch 1 (two rounds), the ES-MoE model at batch 1 and CenterNet at batch 32 (one round).
# The device tool brings back a few files: everything goes into all.tgz, rewritten after every step.
final=$1; out=/tmp/cout; mkdir -p $out /tmp/c /tmp/frames /tmp/acc
pack() { tar czf $final/all.tgz -C $out . 2>/dev/null; cp $out/rc.txt $final/ 2>/dev/null; }
left() { (( SECONDS < ${BUDGET_S:-320} )) || { echo "skipped: $*" >> $out/rc.txt; return 1; }; }
export LD_LIBRARY_PATH=/tmp/c:/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
cp .gpu/c/ilgpu-bench .gpu/c/moedetect .gpu/c/libonnxruntime_providers_shared.so /tmp/c/ && chmod +x /tmp/c/*
xz -dc .gpu/c/ort.xz > /tmp/c/libonnxruntime.so
for f in .gpu/c/frames/*.xz; do xz -dc $f > /tmp/frames/$(basename ${f%.xz}); done
mkdir -p /tmp/bgr && mv /tmp/frames/*.bgr /tmp/bgr/
nvidia-smi -L > $out/gpu.txt
timeout 60 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > $out/export.log 2>&1; echo "export rc $? ${SECONDS}s" >> $out/rc.txt
# 640 × 640 canvases (bench --save-frames layout, centred letterbox, grey 114) of the two 1280 × 720 frames, four times.
python3 - >> $out/export.log 2>&1 <<'PY'
import glob, struct, cv2, numpy as np
frames = [np.fromfile(f, np.uint8).reshape(720, 1280, 3) for f in sorted(glob.glob("/tmp/bgr/*.bgr"))] * 4
with open("/tmp/frames/frames-640.raw", "wb") as o:
    o.write(b"MDFRAMES" + struct.pack("<4i", 1, len(frames), 640, 640))
    for f in frames:
        canvas = np.full((640, 640, 3), 114, np.uint8); canvas[140:500] = cv2.resize(f, (640, 360), interpolation=cv2.INTER_LINEAR)
        o.write(struct.pack("<2i", 1280, 720)); o.write(canvas.tobytes())
PY
b=/tmp/c/ilgpu-bench
whole() { echo "$(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b1.json | head -1) $(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b32.json | head -1) $(grep -o 'CUDA graphs, [0-9]* programmatic' $1/profile_b1.json | head -1)"; }
profiles() {  # profiles ROUND
  r=$1; for pdl in 1 0; do
  left "profile round $r" || continue
  MOEDETECT_PROGRAMMATIC_LAUNCH=$pdl timeout 50 $b profile models/centernet-mnv3.onnx $out/centernet-$pdl-$r --batches 1,32 --iterations 20 --outputs detections > $out/centernet-$pdl-$r.log 2>&1
  echo "centernet pdl=$pdl round $r rc $? ${SECONDS}s $(whole $out/centernet-$pdl-$r)" >> $out/rc.txt; pack
  MOEDETECT_PROGRAMMATIC_LAUNCH=$pdl timeout 50 $b profile /tmp/yolov8n.onnx $out/yolo-$pdl-$r --batches 1,32 --iterations 20 > $out/yolo-$pdl-$r.log 2>&1
  echo "yolov8n pdl=$pdl round $r rc $? ${SECONDS}s $(whole $out/yolo-$pdl-$r)" >> $out/rc.txt; pack
  [[ $r == 2 ]] && continue  # the routed run once each way: it takes twice CenterNet's time
  MOEDETECT_PROGRAMMATIC_LAUNCH=$pdl timeout 60 $b profile models/esmoe-centernet.moedet $out/student-$pdl-$r --batches 1,32 --iterations 20 > $out/student-$pdl-$r.log 2>&1
  echo "student pdl=$pdl round $r rc $? ${SECONDS}s $(whole $out/student-$pdl-$r)" >> $out/rc.txt; pack
done
}
profiles 1
for pdl in 1 0; do
  left "accuracy $pdl" || continue
  MOEDETECT_PROGRAMMATIC_LAUNCH=$pdl timeout 60 $b models/centernet-mnv3.onnx /tmp/bgr /tmp/acc/c$pdl --batches 1,8 > $out/accuracy-c$pdl.log 2>&1
  MOEDETECT_PROGRAMMATIC_LAUNCH=$pdl timeout 60 $b /tmp/yolov8n.onnx /tmp/bgr /tmp/acc/y$pdl --batches 1,8 > $out/accuracy-y$pdl.log 2>&1
done
echo "accuracy runs ${SECONDS}s" >> $out/rc.txt
python3 - > $out/on-vs-off.txt 2>&1 <<'PY'
import glob, os, numpy as np
for f in sorted(glob.glob("/tmp/acc/[cy]1/*_b*.bin")):
    if os.path.basename(f).startswith("input_"): continue
    g = f.replace("/acc/c1/", "/acc/c0/").replace("/acc/y1/", "/acc/y0/")
    x, y = np.fromfile(f, np.float32), np.fromfile(g, np.float32)
    print(f.split("/")[-2], os.path.basename(f), "max abs diff on vs off", float(np.abs(x - y).max()) if x.shape == y.shape else "shapes differ", "max abs", float(np.abs(x).max()))
PY
left compare && timeout 60 python3 tools/IlgpuBench/compare.py models/centernet-mnv3.onnx /tmp/acc/c1 $out/compare-c1.json >> $out/accuracy-c1.log 2>&1
left compare && timeout 60 python3 tools/IlgpuBench/compare.py /tmp/yolov8n.onnx /tmp/acc/y1 $out/compare-y1.json >> $out/accuracy-y1.log 2>&1
echo "compare ${SECONDS}s" >> $out/rc.txt; pack
ab() {  # ab NAME MODEL FRAMES BATCH ROUNDS
  for r in $(seq 1 $5); do for pdl in 1 0; do
    left "product $1 b$4 $pdl $r" || continue
    MOEDETECT_PROGRAMMATIC_LAUNCH=$pdl timeout 45 /tmp/c/moedetect bench --device gpu --engine ilgpu --model "$2" \
      --frames-file "$3" --batch $4 --frames 512 --json /tmp/ab.json >> "$out/ab.log" 2>&1
    echo "{\"model\": \"$1\", \"programmatic\": $pdl, \"round\": $r, \"report\": $(cat /tmp/ab.json)}" >> "$out/ab.jsonl"
    echo "$1 b$4 programmatic=$pdl round $r: inference mean $(grep -o '"stage_ms": {[^}]*}' /tmp/ab.json | grep -o '"inference": [0-9.]*') median $(grep -o '"stage_median_ms": {[^}]*}' /tmp/ab.json | grep -o '"inference": [0-9.]*') $(grep -o '"frames_per_second": [0-9.]*' /tmp/ab.json | head -1) $(grep -o '"detections": [0-9]*' /tmp/ab.json | head -1) ${SECONDS}s" >> $out/rc.txt
    rm -f /tmp/ab.json; pack
  done; done
}
ab centernet models/centernet-mnv3.onnx /tmp/frames/frames-512.raw 1 1
ab yolov8n /tmp/yolov8n.onnx /tmp/frames/frames-640.raw 1 1
profiles 2
ab esmoe models/esmoe-centernet.moedet /tmp/frames/frames-512.raw 1 1
ab centernet models/centernet-mnv3.onnx /tmp/frames/frames-512.raw 32 1
pack; cp $out/on-vs-off.txt $final/
cat $out/rc.txt $out/on-vs-off.txt; grep -h -i "warn\|disagree\|differs\|error\|exception" $out/*.log | sort | uniq -c | head; tail -3 $out/accuracy-c1.log $out/accuracy-y1.log
