#!/usr/bin/python3
"""edet from Python against effdet on PyTorch and ONNX Runtime, in one run on one machine.

    /usr/bin/python3 bench/python_vs_effdet.py [--edet-path build/python] [--threads 1,2]
        [--warmup 10] [--runs 20] [--models tf_efficientdet_d0,tf_efficientdet_lite0]

For each model and thread count, each engine runs in its own process (so its peak RSS is its
own): the network alone on the fixture's input (../shared/fixtures/<model>_s0: the same
weights and the same already-normalised input for all three), `warmup` untimed forwards,
then `runs` timed ones; the median is reported with the process's peak RSS.
  edet    edet.EfficientDet.load(weights)(x)  (the module built by CMake in --edet-path, or an
          installed one)
  effdet  effdet 0.4.1's model(x) under torch.no_grad() with torch.set_num_threads(t)
          (../shared/oracle/vendor: effdet and timm as the oracle runs them; Debian's PyTorch)
  ORT     scripts/ort_bench.mjs (onnxruntime-node; ../shared/peers/<model>_s0.onnx) with the
          same warm-up and runs; its RSS is the whole node process
Network only: effdet's DetBenchPredict and edet's Detector add preprocessing and NMS, which
the ONNX graphs do not have. Needs /usr/bin/python3 with numpy and torch (the oracle installs
python3-torch), node, and ORT in ~/.cache/edet-ort (scripts/bench-vs-ort.sh installs it).
"""
import argparse, json, os, resource, statistics, struct, subprocess, sys, time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
shared = os.path.join(root, '..', 'shared')


def read_safetensors(path):
    import numpy as np
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == '__metadata__':
            continue
        b, e = v['data_offsets']
        dt = {'F32': np.float32, 'I64': np.int64}[v['dtype']]
        out[k] = np.frombuffer(data[b:e], dtype=dt).reshape(v['shape'])
    return out


def timed(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    t = []
    for _ in range(runs):
        a = time.perf_counter()
        fn()
        t.append((time.perf_counter() - a) * 1e3)
    return statistics.median(t)


def worker(engine, model, threads, warmup, runs, edet_path):
    fixture = os.path.join(shared, 'fixtures', model + '_s0')
    x = read_safetensors(os.path.join(fixture, 'input.safetensors'))['input'].copy()
    if engine == 'edet':
        sys.path.insert(0, edet_path)
        import edet
        net = edet.EfficientDet.load(os.path.join(fixture, 'weights.safetensors'))
        ms = timed(lambda: net(x, threads=threads), warmup, runs)
    else:
        sys.path[:0] = [os.path.join(shared, 'oracle', 'vendor'), os.path.join(shared, 'oracle', 'vendor', 'stubs')]
        import torch
        from effdet import create_model_from_config, get_efficientdet_config
        torch.set_num_threads(threads)
        config = get_efficientdet_config(model)
        config.image_size = tuple(x.shape[2:])
        m = create_model_from_config(config, pretrained=False, pretrained_backbone=False, bench_task='').eval()
        w = read_safetensors(os.path.join(fixture, 'weights.safetensors'))
        m.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in w.items()}, strict=True)
        t = torch.from_numpy(x)
        with torch.no_grad():
            ms = timed(lambda: m(t), warmup, runs)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({'engine': engine, 'model': model, 'threads': threads, 'median_ms': ms, 'peak_rss_mib': rss_mib}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--edet-path', default=os.path.join(root, 'build', 'python'))
    ap.add_argument('--threads', default='1,2')
    ap.add_argument('--warmup', type=int, default=10)
    ap.add_argument('--runs', type=int, default=20)
    ap.add_argument('--models', default='tf_efficientdet_d0,tf_efficientdet_lite0')
    ap.add_argument('--ort-dir', default=os.path.join(os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache')), 'edet-ort'))
    ap.add_argument('--worker', nargs=3, metavar=('ENGINE', 'MODEL', 'THREADS'), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a.worker[0], a.worker[1], int(a.worker[2]), a.warmup, a.runs, a.edet_path)
        return
    rows = []
    for model in a.models.split(','):
        for t in [int(v) for v in a.threads.split(',')]:
            row = {'model': model, 'threads': t}
            for engine in ('edet', 'effdet'):
                r = subprocess.run([sys.executable, __file__, '--worker', engine, model, str(t), '--warmup', str(a.warmup),
                                    '--runs', str(a.runs), '--edet-path', a.edet_path], capture_output=True, text=True)
                if r.returncode != 0:
                    print(f'{engine} {model} {t}: failed: {r.stderr.strip().splitlines()[-1:]}', file=sys.stderr)
                    continue
                row[engine] = json.loads(r.stdout.strip().splitlines()[-1])
            onnx = os.path.join(shared, 'peers', model + '_s0.onnx')
            r = subprocess.run(['node', os.path.join(root, 'scripts', 'ort_bench.mjs'), '--ort', a.ort_dir, '--model', onnx,
                                '--threads', str(t), '--warmup', str(a.warmup), '--runs', str(a.runs), '--json'],
                               capture_output=True, text=True)
            if r.returncode == 0:
                o = json.loads(r.stdout.strip().splitlines()[-1])
                row['ort'] = {'median_ms': o['median_ms'], 'peak_rss_mib': o['peak_rss_kb'] / 1024.0, 'version': o['version']}
            else:
                print(f'ORT {model} {t}: failed: {r.stderr.strip()[-200:]}', file=sys.stderr)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), '?')
    print(f'network only, median of {a.runs} after {a.warmup} warm-up, one process per engine; {cpu}, {os.cpu_count()} cores')
    print(f"{'model':24} thr  {'edet ms':>8} {'effdet ms':>10} {'ORT ms':>8}  {'effdet/edet':>11} {'ORT/edet':>9}  RSS MiB edet / effdet / ORT")
    f = lambda r, k: r[k]['median_ms'] if k in r else float('nan')
    g = lambda r, k: r[k]['peak_rss_mib'] if k in r else float('nan')
    for r in rows:
        e = f(r, 'edet')
        print(f"{r['model']:24} {r['threads']:3}  {e:8.1f} {f(r, 'effdet'):10.1f} {f(r, 'ort'):8.1f}  {f(r, 'effdet') / e:11.2f} "
              f"{f(r, 'ort') / e:9.2f}  {g(r, 'edet'):.0f} / {g(r, 'effdet'):.0f} / {g(r, 'ort'):.0f}")


if __name__ == '__main__':
    main()
