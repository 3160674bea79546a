#!/usr/bin/env bash
# Call U: the final build (new: one wait per plan run, short reductions into few outputs by groups, unsorted TopK rows
# of one group without the sort) against HEAD 2805418 (old), YOLOv8n, in the same call:
#  1. ilgpu-bench profile --as-product, batch 1 and 32, old/new then new/old.
#  2. the product path (moedetect bench --device gpu --engine ilgpu) at batch 1 and 32, old/new then new/old.
#  3. scripts/gpu-bench with the new build: against PyTorch eager and compiled, batch 1 and 32.
# Carry .gpu/u (new builds) and .gpu/t (old moedetect, ORT, canvases; old ilgpu-bench). Usage: run-u.sh OUT
final=$1; out=/tmp/uout; mkdir -p $out /tmp/new /tmp/old /tmp/frames
pack() { tar czf $final/all.tgz -C $out . 2>/dev/null; cp $out/rc.txt $final/ 2>/dev/null; }
left() { (( SECONDS < ${BUDGET_S:-330} )) || { echo "skipped: $*" >> $out/rc.txt; return 1; }; }
note() { echo "$* ${SECONDS}s" >> $out/rc.txt; pack; }
for d in new old; do
  src=.gpu/u; [[ $d == old ]] && src=.gpu/t
  xz -dc $src/bin/moedetect.xz > /tmp/$d/moedetect; xz -dc $src/ilgpu-bench.xz > /tmp/$d/ilgpu-bench
  xz -dc .gpu/t/ort.xz > /tmp/$d/libonnxruntime.so; cp .gpu/t/libonnxruntime_providers_shared.so /tmp/$d/; chmod +x /tmp/$d/*
done
xz -dc .gpu/t/frames-640.raw.xz > /tmp/frames/frames-640.raw
cudalibs=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
nvidia-smi -L > $out/gpu.txt
timeout 60 python3 training/yolov8n.py --out /tmp/yolov8n.onnx > $out/export.log 2>&1; note "export rc $?"
whole() { echo "$(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b1.json | head -1) $(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b32.json | head -1)"; }
profile() {  # profile BUILD ROUND
  left "profile $1 $2" || return
  LD_LIBRARY_PATH=/tmp/$1:$cudalibs timeout 60 /tmp/$1/ilgpu-bench profile /tmp/yolov8n.onnx $out/yolov8n-$1-$2 --batches 1,32 --iterations 20 --as-product > $out/yolov8n-$1-$2.log 2>&1
  note "profile yolov8n $1 round $2 rc $? $(whole $out/yolov8n-$1-$2)"
}
stages() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; s=r["stage_ms"]; print(" ".join(f"{k}={v:.4f}" for k,v in s.items()), "up+infer+down=%.4f" % sum(s.get(k,0) for k in ("upload","inference","download")), "fps=%.1f" % r["frames_per_second"])' $1 2>&1; }
bench() {  # bench BUILD BATCH FRAMES ROUND
  left "bench $1 b$2 $4" || return
  LD_LIBRARY_PATH=/tmp/$1:$cudalibs timeout 60 /tmp/$1/moedetect bench --device gpu --engine ilgpu --model /tmp/yolov8n.onnx --batch $2 --frames $3 \
    --frames-file /tmp/frames/frames-640.raw --json $out/bench-yolov8n-b$2-$1-$4.json > $out/bench-yolov8n-b$2-$1-$4.log 2>&1
  note "bench yolov8n b$2 $1 round $4 rc $? $(stages $out/bench-yolov8n-b$2-$1-$4.json)"
}
for round in 1 2; do
  builds="old new"; [[ $round == 2 ]] && builds="new old"
  for b in $builds; do profile $b $round; bench $b 1 512 $round; bench $b 32 1024 $round; done
done
if left torch; then
  mkdir -p /tmp/b && cp /tmp/new/moedetect /tmp/new/libonnxruntime.so /tmp/new/libonnxruntime_providers_shared.so /tmp/b/
  ENGINE=ilgpu MODELS=yolov8n BATCHES=1,32 TOTAL_S=$(( ${END_S:-560} - SECONDS )) MOEDETECT_CAP_S=45 TORCH_CAP_S=180 \
    TORCH_ENGINES=torch-eager,torch-compiled scripts/gpu-bench /tmp/b /tmp/frames $out/bench > $out/bench.log 2>&1
  note "gpu-bench rc $?"
fi
pack
cat $out/rc.txt; sed -n '/^| model/,$p' $out/bench/gpu-bench.md 2>/dev/null | head -30
