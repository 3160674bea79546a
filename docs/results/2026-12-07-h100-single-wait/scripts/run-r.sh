#!/usr/bin/env bash
# Call R: one wait per plan run (outputs' copies queued behind the launches) and short reductions into few outputs
# by groups (new) against HEAD 2805418 (old), in the same call:
#  1. ilgpu-bench profile --as-product, YOLOv8n, batch 1 and 32, old/new then new/old.
#  2. accuracy of the new build against ONNX Runtime CPU (compare.py), YOLOv8n and CenterNet, two real frames.
#  3. the product path at batch 1 (moedetect bench --device gpu --engine ilgpu), CenterNet and YOLOv8n, old/new then
#     new/old; YOLOv8n's detections at --conf 0.005 by each build.
# Carry .gpu/r (new builds, bgr frames) and .gpu/q (old builds, ORT, canvases). Usage: run-r.sh OUT
final=$1; out=/tmp/rout; mkdir -p $out /tmp/new /tmp/old /tmp/bgr /tmp/acc /tmp/frames
pack() { tar czf $final/all.tgz -C $out . 2>/dev/null; cp $out/rc.txt $final/ 2>/dev/null; }
left() { (( SECONDS < ${BUDGET_S:-270} )) || { echo "skipped: $*" >> $out/rc.txt; return 1; }; }
note() { echo "$* ${SECONDS}s" >> $out/rc.txt; pack; }
for d in new old; do
  src=.gpu/r; [[ $d == old ]] && src=.gpu/q
  xz -dc $src/ilgpu-bench.xz > /tmp/$d/ilgpu-bench; xz -dc $src/bin/moedetect.xz > /tmp/$d/moedetect
  xz -dc .gpu/q/bin/ort.xz > /tmp/$d/libonnxruntime.so; cp .gpu/q/bin/libonnxruntime_providers_shared.so /tmp/$d/
  chmod +x /tmp/$d/*
done
for f in .gpu/r/bgr/*.xz; do xz -dc $f > /tmp/bgr/$(basename ${f%.xz}); done
for f in .gpu/q/frames/*.xz; do xz -dc $f > /tmp/frames/$(basename ${f%.xz}); done
cudalibs=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
nvidia-smi -L > $out/gpu.txt
timeout 60 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > $out/export.log 2>&1; note "export rc $?"
whole() { echo "$(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b1.json | head -1) $(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b32.json | head -1)"; }
profile() {  # profile BUILD ROUND
  left "profile $1 $2" || return
  LD_LIBRARY_PATH=/tmp/$1:$cudalibs timeout 60 /tmp/$1/ilgpu-bench profile /tmp/yolov8n.onnx $out/yolov8n-$1-$2 --batches 1,32 --iterations 20 --as-product > $out/yolov8n-$1-$2.log 2>&1
  note "profile yolov8n $1 round $2 rc $? $(whole $out/yolov8n-$1-$2)"
}
profile old 1; profile new 1
accuracy() {  # accuracy TAG MODEL
  left "accuracy $1" || return
  LD_LIBRARY_PATH=/tmp/new:$cudalibs timeout 40 /tmp/new/ilgpu-bench $2 /tmp/bgr /tmp/acc/$1 --batches 1,8 > $out/accuracy-$1.log 2>&1
  timeout 40 python3 tools/IlgpuBench/compare.py $2 /tmp/acc/$1 $out/compare-$1.json >> $out/accuracy-$1.log 2>&1
  note "accuracy $1"
}
accuracy y /tmp/yolov8n.onnx
accuracy c models/centernet-mnv3.onnx
stages() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; s=r["stage_ms"]; print(" ".join(f"{k}={v:.4f}" for k,v in s.items()), "up+infer+down=%.4f" % sum(s.get(k,0) for k in ("upload","inference","download")), "fps=%.1f" % r["frames_per_second"], "detections=%s" % r.get("detections"))' $1 2>&1; }
bench() {  # bench BUILD MODEL FRAMES ROUND
  local n=$(basename ${2%.onnx}); left "bench $1 $n $4" || return
  LD_LIBRARY_PATH=/tmp/$1:$cudalibs timeout 45 /tmp/$1/moedetect bench --device gpu --engine ilgpu --model $2 --batch 1 --frames 512 \
    --frames-file /tmp/frames/$3 --json $out/bench-$n-$1-$4.json > $out/bench-$n-$1-$4.log 2>&1
  note "bench $n $1 round $4 rc $? $(stages $out/bench-$n-$1-$4.json)"
}
for round in 1 2; do
  builds="old new"; [[ $round == 2 ]] && builds="new old"
  for b in $builds; do bench $b models/centernet-mnv3.onnx frames-512.raw $round; bench $b /tmp/yolov8n.onnx frames-640.raw $round; done
done
# YOLOv8n's random weights give no detections at the default threshold: the candidates' rows, which the reduction
# chooses, show at a low one; both builds must find the same.
for b in old new; do
  left "candidates $b" || continue
  LD_LIBRARY_PATH=/tmp/$b:$cudalibs timeout 40 /tmp/$b/moedetect bench --device gpu --engine ilgpu --model /tmp/yolov8n.onnx --batch 1 --frames 64 \
    --conf 0.005 --frames-file /tmp/frames/frames-640.raw --json $out/candidates-$b.json > $out/candidates-$b.log 2>&1
  note "candidates $b rc $? $(stages $out/candidates-$b.json)"
done
profile new 2; profile old 2
pack
cat $out/rc.txt
for f in $out/compare-*.json; do python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); [print(sys.argv[1][-6:], r["batch"], r.get("max_abs_error_vs_ort_cpu"), r.get("detections_agree_score_0.3")) for r in d["runs"]]' $f; done
