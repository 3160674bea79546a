#!/usr/bin/env bash
# Call D: the new build (squeeze-excite scale applied in the tensor-core GEMM's shared memory, no ScaleWeights launch;
# TopK in 10 launches instead of 17) against the previous one (85540b2), same machine: whole-plan medians of CenterNet
# (detections output only) and the ES-MoE routed run at batch 1 and 32, new/old alternated; then CenterNet's GPU
# outputs of the new build against ONNX Runtime (CPU) on a real frame.
out=$1
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
new=.gpu/d/ilgpu-bench; old=.gpu/br/ilgpu-bench; chmod +x $new $old
mkdir -p /tmp/ort /tmp/frames /tmp/acc && xz -dc .gpu/br/ort.xz > /tmp/ort/libonnxruntime.so
xz -dc .gpu/br/frames/coco0_1280x720.bgr.xz > /tmp/frames/coco0_1280x720.bgr
nvidia-smi -L > $out/gpu.txt
whole() { echo "$(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b1.json) $(grep -o '"whole_run_ms": *[0-9.]*' $1/profile_b32.json)"; }
for r in 1 2; do for v in new old; do
  timeout 50 ${!v} profile models/centernet-mnv3.onnx $out/centernet-$v-$r --batches 1,32 --iterations 20 --outputs detections > $out/centernet-$v-$r.log 2>&1
  echo "centernet $v round $r rc $? ${SECONDS}s $(whole $out/centernet-$v-$r)" >> $out/rc.txt
done; done
for v in new old; do
  LD_LIBRARY_PATH=/tmp/ort:$LD_LIBRARY_PATH timeout 60 ${!v} profile models/esmoe-centernet.moedet $out/student-$v --batches 1,32 --iterations 20 > $out/student-$v.log 2>&1
  echo "student $v rc $? ${SECONDS}s $(whole $out/student-$v)" >> $out/rc.txt
done
timeout 60 $new models/centernet-mnv3.onnx /tmp/frames /tmp/acc/new --batches 1,8 > $out/accuracy-new.log 2>&1
timeout 90 python3 tools/IlgpuBench/compare.py models/centernet-mnv3.onnx /tmp/acc/new $out/compare-new.json >> $out/accuracy-new.log 2>&1
echo "accuracy new rc $? ${SECONDS}s" >> $out/rc.txt
cat $out/rc.txt; grep -h -i "warn\|disagree\|differs" $out/*.log | sort | uniq -c | head; tail -5 $out/accuracy-new.log
