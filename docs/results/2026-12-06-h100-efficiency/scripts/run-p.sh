#!/usr/bin/env bash
# Call P: A = 202c7aa (the staged channels-last peak test with the ES-MoE decoder's sigmoid fused), B = d930c05: A with the peak
# test as before 31769ff (windows read from global memory, no sigmoid inside; the ES-MoE decoder's Sigmoid its own
# launch), and one CUDA graph a plan binding. The ES-MoE routed run and CenterNet profiled piece by piece (random frames, batch 1 and 32), A B A B.
out=$1
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
chmod +x .gpu/ab/A/ilgpu-bench .gpu/ab/B/ilgpu-bench
mkdir -p /tmp/ort && xz -dc .gpu/ab/ort.xz > /tmp/ort/libonnxruntime.so
nvidia-smi -L > $out/gpu.txt
whole() { echo "$(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b1.json) $(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b32.json)"; }
peaks() { python3 -c "
import json,sys
for b in (1,32):
  d=json.load(open(f'$1/profile_b{b}.json'))
  print(b, [(k['kind'],round(k['ms'],4)) for k in d['summary']['by_kind'] if k['kind'] in ('MoeDetect.Peaks','Sigmoid','TopK')])
"; }
for side in A B A B; do
  LD_LIBRARY_PATH=/tmp/ort:$LD_LIBRARY_PATH timeout 80 .gpu/ab/$side/ilgpu-bench profile models/esmoe-centernet.moedet $out/student-$side --batches 1,32 --iterations 20 > $out/student-$side.log 2>&1
  echo "student $side rc $? ${SECONDS}s $(whole $out/student-$side) $(peaks $out/student-$side | tr '\n' ' ')" >> $out/rc.txt
  timeout 60 .gpu/ab/$side/ilgpu-bench profile models/centernet-mnv3.onnx $out/centernet-$side --batches 1,32 --iterations 20 > $out/centernet-$side.log 2>&1
  echo "centernet $side rc $? ${SECONDS}s $(whole $out/centernet-$side) $(peaks $out/centernet-$side | tr '\n' ' ')" >> $out/rc.txt
done
# Only the summaries travel back (the per-piece files of the routed profile are too many).
find $out -name 'profile_b*.json' -path '*student*' -delete
cat $out/rc.txt
