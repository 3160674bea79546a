#!/usr/bin/env bash
# Call C: the product path (moedetect bench --device gpu --engine ilgpu) with CUDA graph branches (1) and in plan
# order (0), alternated three times for CenterNet at batch 1 and 32: how much of call B's on/off differences for it
# (none at batch 1, 1.04x at batch 32, where the plan alone showed 0.91x and 0.98x) is run-to-run spread.
out=$1
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
bin=.gpu/prod/bin; w=/tmp/c; mkdir -p $w
xz -dc $bin/ort.xz > $bin/libonnxruntime.so
xz -dc .gpu/prod/frames-512.raw.xz > $w/frames-512.raw
nvidia-smi -L > $out/gpu.txt
bench() { # name model frames batch count branches round
  MOEDETECT_GRAPH_BRANCHES=$6 timeout 60 $bin/moedetect bench --device gpu --engine ilgpu --model $2 --frames-file $w/$3 --batch $4 --frames $5 --json $out/$1-b$4-br$6-r$7.json > $out/$1-b$4-br$6-r$7.log 2>&1
  echo "$1 b$4 branches=$6 round $7 rc $? ${SECONDS}s $(grep -o '"inference": [0-9.]*' $out/$1-b$4-br$6-r$7.json) $(grep -o '"frames_per_second": [0-9.]*' $out/$1-b$4-br$6-r$7.json)" >> $out/rc.txt
}
for r in 1 2 3; do for br in 1 0; do
  bench centernet models/centernet-mnv3.onnx frames-512.raw 1 512 $br $r
  bench centernet models/centernet-mnv3.onnx frames-512.raw 32 1024 $br $r
done; done
cat $out/rc.txt
