import json, sys, glob, os, re, statistics
d = sys.argv[1]
def lines(f):
    for l in open(f):
        l = l.strip()
        if l.startswith('{'):
            try: yield json.loads(l)
            except Exception: pass
print(open(f'{d}/status.txt').read())
# per-layer old vs chunks
kl = {}
for v in ['old', 'chunks']:
    f = f'{d}/k-yolov8n-{v}.log'
    if os.path.exists(f):
        for j in lines(f):
            if 'tensor_core_check' in j: print(v, j)
            if 'layer' in j: kl.setdefault(j['layer'], {})[v] = j
tot = {'old': 0, 'chunks': 0}
print('layer | count | old ms | chunks ms | ratio | chunks TFLOP/s | diff')
for layer, r in kl.items():
    if 'old' in r and 'chunks' in r:
        o, c = r['old'], r['chunks']
        tot['old'] += o['tensor_core_ms'] * o['count']; tot['chunks'] += c['tensor_core_ms'] * c['count']
        print(f"{layer} | {o['count']} | {o['tensor_core_ms']:.4f} | {c['tensor_core_ms']:.4f} | {c['tensor_core_ms']/o['tensor_core_ms']:.2f} | {c['tensor_core_tflops']:.1f} | {c['max_abs_diff_vs_direct']:.3g}")
print('sum x count', tot)
f = f'{d}/k-centernet-chunks.log'
if os.path.exists(f):
    for j in lines(f):
        if 'tensor_core_check' in j: print('centernet', j)
        if 'layer' in j and j['max_abs_diff_vs_direct'] > 0.1: print('BIG DIFF', j)
    print('centernet chunks sum', sum(j['tensor_core_ms'] * j['count'] for j in lines(f) if 'layer' in j))
# profiles
prof = {}
for f in sorted(glob.glob(f'{d}/p-*.log')):
    m = re.match(r'p-(\w+)-(\w+)-\d+\.log', os.path.basename(f))
    for j in lines(f):
        if 'whole_run_ms' in j:
            prof.setdefault((m.group(1), j['batch'], m.group(2)), []).append(j)
for k, v in sorted(prof.items()):
    print(k, [round(j['whole_run_ms'], 3) for j in v], 'launches', v[0]['launches'])
    if k[2] == 'chunks' and k[1] == 32:
        print('   ', [(b['kind'], b['launches'], round(b['ms'], 3)) for b in v[0]['by_kind'][:10]])
for f in sorted(glob.glob(f'{d}/i-*.log')):
    for j in lines(f):
        if 'batch' in j: print(os.path.basename(f), j['batch'], {k: v for k, v in j.items() if k.endswith("per_batch") or k == "first_run_ms_incl_plan"})
f = f'{d}/torch.jsonl'
if os.path.exists(f):
    for j in lines(f):
        print('torch', j.get('model'), j.get('engine'), j.get('batch'), 'net', j.get('net_ms_per_batch'), 'e2e', j.get('e2e_ms_per_batch'), j.get('skipped', ''))
