#!/usr/bin/env bash
# scripts/bench-vs-ort.sh - edet against ONNX Runtime on the same networks and weights,
# each engine measured at its steady state.
#
#   scripts/bench-vs-ort.sh [--build DIR] [--threads "1 2"] [--warmup W] [--runs N]
#                           [--procs P] [--models "A.onnx B.onnx"] [--ort-dir DIR]
#                           [--out FILE.jsonl]
#
# 1. Installs onnxruntime-node with npm into a scratch directory if it is not there yet
#    (npm install --ignore-scripts onnxruntime-node: the CPU runtime ships in the package;
#    see ../shared/peers/README.md). Default: ${XDG_CACHE_HOME:-~/.cache}/edet-ort.
# 2. For every model (default ../shared/peers/*.onnx) and every thread count, starts P
#    separate processes per engine (default 3), alternating [ORT process] [edet-bench
#    process] so that load on a shared machine hits both alike. Every process loads the
#    model, runs W untimed warm-up forwards (default 20: ORT's first 3-4 runs take about
#    twice its steady time) and then N timed ones (default 20). The variant is the file
#    name without its _s<seed> (and _HxW) suffix; when ../shared/fixtures/<name>/ exists
#    edet-bench uses its weights, the ones the ONNX file was exported with.
# 3. Prints per model and thread count, for each engine: the median of its fastest process
#    (the steady state compared: "best"), every process's median beside it (a process that
#    stays in a slow mode shows there instead of being hidden), and the share of timed runs
#    over 1.3x their own process's median (one-off outliers); then best edet / best ORT
#    (< 1: edet faster) and its inverse, the speed-up. Also CPU time, edet's
#    post-processing (the ONNX graphs contain none, so the ratio compares networks only),
#    the peak RSS of both (ORT's is the whole node process; its baseline before loading
#    ORT is shown) and edet-bench's DRAM triad bandwidth of the moment.
# 4. Parity, per model with a fixture: ORT on the fixture's input against the fixture's
#    outputs and, when edet-dump is built, against edet-dump's outputs on the same input
#    (max |a - b| / max |b| per head output).
# Works before edet-bench / edet-dump exist: it then reports ORT alone. --rounds is the old
# name of --procs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
build="$root/build"
threads="1 2"
warmup=20
runs=20
procs=3
models=""
ort_dir="${XDG_CACHE_HOME:-$HOME/.cache}/edet-ort"
out=""
peers="$root/../shared/peers"
fixtures="$root/../shared/fixtures"

usage() { sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --procs|--rounds) procs=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --ort-dir) ort_dir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench-vs-ort: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for v in $threads $runs $procs; do
  case "$v" in ''|*[!0-9]*|0) echo "bench-vs-ort: '$v' is not a positive integer" >&2; exit 2 ;; esac
done
case "$warmup" in ''|*[!0-9]*) echo "bench-vs-ort: --warmup '$warmup' is not a non-negative integer" >&2; exit 2 ;; esac
command -v node >/dev/null || { echo "bench-vs-ort: node is required (apt-get install nodejs npm)" >&2; exit 2; }

# --- 1. ONNX Runtime for Node ------------------------------------------------------------
if ! [ -d "$ort_dir/node_modules/onnxruntime-node" ]; then
  echo "== installing onnxruntime-node into $ort_dir"
  mkdir -p "$ort_dir"
  (cd "$ort_dir" && { [ -f package.json ] || npm init -y >/dev/null; } &&
     npm install --ignore-scripts --no-audit --no-fund onnxruntime-node >/dev/null)
fi

if [ -z "$models" ]; then models=$(ls "$peers"/*.onnx 2>/dev/null || true); fi
[ -n "$models" ] || { echo "bench-vs-ort: no .onnx models (looked in $peers)" >&2; exit 2; }

edet_bench=""
for c in "$build/edet-bench" "$build/tools/edet-bench" "$build/bin/edet-bench"; do
  [ -x "$c" ] && { edet_bench=$c; break; }
done
edet_dump=""
for c in "$build/edet-dump" "$build/tools/edet-dump" "$build/bin/edet-dump"; do
  [ -x "$c" ] && { edet_dump=$c; break; }
done
[ -n "$edet_bench" ] || echo "note: no edet-bench in $build (build the target edet-bench); timing ORT alone"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
results=${out:-$tmp/results.jsonl}
: > "$results"

cpu_name=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "== machine: $cpu_name, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (timings on a loaded machine are noisy)"
echo "== $procs process(es) per engine and configuration, each $warmup warm-up + $runs timed forwards"

# --- 2. interleaved timing ------------------------------------------------------------------
for model in $models; do
  base=$(basename "$model" .onnx)
  variant=$(echo "$base" | sed -E 's/_s[0-9]+(_[0-9]+x[0-9]+)?$//')
  size=$(echo "$base" | sed -nE 's/.*_s[0-9]+_([0-9]+x[0-9]+)$/\1/p')
  fixture="$fixtures/$base"
  edet_args=(--variant "$variant" --warmup "$warmup" --runs "$runs" --json)
  [ -n "$size" ] && edet_args+=(--size "$size")
  [ -f "$fixture/weights.safetensors" ] && edet_args+=(--weights "$fixture/weights.safetensors")
  for t in $threads; do
    for r in $(seq 1 "$procs"); do
      echo "-- $base, $t thread(s), process $r/$procs" >&2
      node "$here/ort_bench.mjs" --ort "$ort_dir" --model "$model" --threads "$t" --warmup "$warmup" --runs "$runs" --json \
        | sed "s|^{|{\"key\":\"$base\",\"round\":$r,|" >> "$results"
      if [ -n "$edet_bench" ]; then
        if ! "$edet_bench" "${edet_args[@]}" --threads "$t" > "$tmp/edet.json" 2> "$tmp/edet.err"; then
          echo "   edet-bench failed: $(tail -n 1 "$tmp/edet.err")" >&2
        else
          sed "s|^{|{\"engine\":\"edet\",\"key\":\"$base\",\"round\":$r,|" "$tmp/edet.json" >> "$results"
        fi
      fi
    done
  done
done

# --- 3. summary ------------------------------------------------------------------------------
node - "$results" "$cpu_name" <<'EOF'
const fs = require('fs');
const rows = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const median = (v) => { const s = [...v].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const groups = new Map();
for (const r of rows) {
  const k = `${r.key}|${r.threads}`;
  if (!groups.has(k)) groups.set(k, { key: r.key, threads: r.threads, ort: [], edet: [] });
  groups.get(k)[r.engine === 'edet' ? 'edet' : 'ort'].push(r);
}
const f = (x, d = 1) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));
// One engine's processes: each process's median, the fastest of them, and the share of
// timed runs over 1.3x their own process's median.
const summarise = (procs, med, times) => {
  if (!procs.length) return { best: NaN, all: '-', outliers: NaN };
  const meds = procs.map(med);
  let slow = 0, total = 0;
  procs.forEach((p, i) => { const t = times(p) || []; total += t.length; slow += t.filter((x) => x > 1.3 * meds[i]).length; });
  return { best: Math.min(...meds), all: meds.map((m) => f(m)).join('/'), outliers: total ? (100 * slow) / total : NaN };
};
console.log(`\n== steady state on ${process.argv[3]}: each engine's fastest process (median of its timed runs, ms);`);
console.log('   "procs": every process\'s median; "out%": timed runs over 1.3x their process\'s median;');
console.log('   ratio = best edet / best ORT (< 1: edet faster); x = its inverse, the speed-up');
console.log(['model'.padEnd(30), 'thr', 'ORT best', 'ORT procs'.padEnd(20), 'out%', 'edet best', 'edet procs'.padEnd(20), 'out%', 'ratio', '    x',
  'ORT cpu', 'edet cpu', 'edet post', 'ORT RSS MiB', 'edet RSS', 'DRAM GB/s'].join('  '));
for (const g of groups.values()) {
  const o = summarise(g.ort, (r) => r.median_ms, (r) => r.times_ms);
  const e = summarise(g.edet, (r) => r.net_ms.median, (r) => r.net_ms_runs);
  const oc = g.ort.length ? median(g.ort.map((r) => r.cpu_ms)) : NaN;
  const rss = g.ort.length ? Math.max(...g.ort.map((r) => r.peak_rss_kb)) / 1024 : NaN;
  const base = g.ort.length ? Math.max(...g.ort.map((r) => r.baseline_rss_kb)) / 1024 : NaN;
  let ec = NaN, ep = NaN, erss = NaN, dram = NaN;
  if (g.edet.length) {
    ec = median(g.edet.map((r) => (r.net_cpu_ms ? r.net_cpu_ms.median : NaN)));
    ep = median(g.edet.map((r) => r.post_ms.median));
    erss = Math.max(...g.edet.map((r) => r.peak_rss_kb)) / 1024;
    dram = median(g.edet.map((r) => (r.dram_triad_gbs ? r.dram_triad_gbs : NaN)));
  }
  const ratio = e.best / o.best;
  console.log([g.key.padEnd(30), String(g.threads).padStart(3), f(o.best).padStart(8), o.all.padEnd(20), f(o.outliers, 0).padStart(4),
    f(e.best).padStart(9), e.all.padEnd(20), f(e.outliers, 0).padStart(4), f(ratio, 2).padStart(5), f(1 / ratio, 2).padStart(5),
    f(oc).padStart(7), f(ec).padStart(8), f(ep).padStart(9), `${f(rss)} (node ${f(base)})`.padStart(11), f(erss).padStart(8),
    f(dram).padStart(9)].join('  '));
}
const v = rows.find((r) => r.engine !== 'edet');
if (v) console.log(`ORT ${v.version}, graph optimisation 'all', intra-op threads = thr, inter-op 1; ${v.warmup} warm-up + ${v.runs} timed runs per process`);
EOF

# --- 4. parity ---------------------------------------------------------------------------
echo
echo "== parity on the fixture inputs: max |a - b| / max |b| over the head outputs"
for model in $models; do
  base=$(basename "$model" .onnx)
  variant=$(echo "$base" | sed -E 's/_s[0-9]+(_[0-9]+x[0-9]+)?$//')
  fixture="$fixtures/$base"
  if ! [ -f "$fixture/input.safetensors" ]; then echo "$base: no fixture, skipped"; continue; fi
  cmp=(--compare "fixture=$fixture/outputs.safetensors")
  if [ -n "$edet_dump" ]; then
    if "$edet_dump" --weights "$fixture/weights.safetensors" --input "$fixture/input.safetensors" \
         --output "$tmp/edet_$base.safetensors" --variant "$variant" > "$tmp/dump.log" 2>&1; then
      cmp+=(--compare "edet-dump=$tmp/edet_$base.safetensors")
    else
      echo "$base: edet-dump failed: $(tail -n 1 "$tmp/dump.log")"
    fi
  fi
  node "$here/ort_bench.mjs" --ort "$ort_dir" --model "$model" --runs 1 --warmup 0 \
    --input "$fixture/input.safetensors" "${cmp[@]}" --json > "$tmp/parity.json"
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    for (const [name, e] of Object.entries(r.compare)) {
      const worst = Object.entries(e).filter(([k]) => k !== "max").sort((a, b) => b[1] - a[1])[0];
      console.log(`${process.argv[2]}: ORT vs ${name}: max ${e.max.toExponential(2)} (worst tensor ${worst[0]})`);
    }' "$tmp/parity.json" "$base"
done
[ -n "$edet_dump" ] || echo "(no edet-dump in $build: ORT checked against the fixtures only)"
[ -z "$out" ] || echo "raw results: $out"
