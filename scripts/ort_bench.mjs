// scripts/ort_bench.mjs - time one ONNX model in ONNX Runtime (Node) and optionally compare
// its outputs with safetensors files (a fixture's outputs, edet-dump's outputs).
//
//   node scripts/ort_bench.mjs --ort DIR --model M.onnx [--threads N] [--runs R] [--warmup W]
//        [--input input.safetensors] [--compare NAME=outputs.safetensors ...] [--json]
//
// --ort DIR    a directory holding node_modules/onnxruntime-node (npm install --ignore-scripts
//              onnxruntime-node there; scripts/bench-vs-ort.sh does it)
// --input      feeds the tensor `input` of that file (float32 NCHW, already normalised);
//              without it the input is a fixed pseudo-random pattern in [-2, 2)
// --compare    for every output of the model found in the file under the same name:
//              max |ort - file| / max |file| (the fixtures' parity measure)
// Session: intraOpNumThreads N, interOpNumThreads 1, sequential, graph optimisation 'all'.
// Prints a summary, or with --json one JSON line:
//   {"engine":"onnxruntime","version","model","threads","runs","warmup","median_ms","min_ms",
//    "max_ms","times_ms":[every timed run],"cpu_ms","load_ms","peak_rss_kb","baseline_rss_kb",
//    "compare":{NAME:{tensor:err,...,"max":err}}}
// Defaults: 20 warm-up runs, then 20 timed: ORT's first runs take ~2x its steady time.
// cpu_ms is the median CPU time of the process (all threads) per run.
// peak_rss_kb is the whole node process's high-water mark (getrusage maxRSS), which includes
// the JavaScript runtime itself; baseline_rss_kb is the same measure taken before
// onnxruntime is loaded.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';

function fail(msg) {
  process.stderr.write(`ort_bench: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { threads: 1, runs: 20, warmup: 20, compare: [], json: false };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`);
      return argv[++i];
    };
    const int = (s, lo) => {
      const v = Number(s);
      if (!Number.isInteger(v) || v < lo) fail(`${a}: '${s}' is not an integer >= ${lo}`);
      return v;
    };
    if (a === '--ort') o.ort = value();
    else if (a === '--model') o.model = value();
    else if (a === '--threads') o.threads = int(value(), 1);
    else if (a === '--runs') o.runs = int(value(), 1);
    else if (a === '--warmup') o.warmup = int(value(), 0);
    else if (a === '--input') o.input = value();
    else if (a === '--compare') {
      const v = value();
      const eq = v.indexOf('=');
      o.compare.push(eq > 0 ? { name: v.slice(0, eq), file: v.slice(eq + 1) } : { name: path.basename(v), file: v });
    } else if (a === '--json') o.json = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node ort_bench.mjs --ort DIR --model M.onnx [--threads N] [--runs R] [--warmup W]\n' +
        '       [--input input.safetensors] [--compare NAME=outputs.safetensors ...] [--json]\n');
      process.exit(0);
    } else fail(`unknown option '${a}'`);
  }
  if (!o.ort) fail('--ort DIR is required');
  if (!o.model) fail('--model is required');
  return o;
}

// safetensors: u64 LE header length n, n bytes of JSON, then the data. Returns
// {name: {dtype, shape, data: Float32Array (F32 only)}}.
function readSafetensors(file) {
  let buf;
  try {
    buf = readFileSync(file);
  } catch (e) {
    fail(`cannot read ${file}: ${e.message}`);
  }
  if (buf.length < 8) fail(`${file}: too short for a safetensors header`);
  const n = buf.readBigUInt64LE(0);
  if (n > BigInt(buf.length - 8)) fail(`${file}: header length ${n} exceeds the file`);
  const header = JSON.parse(buf.subarray(8, 8 + Number(n)).toString('utf8'));
  const base = 8 + Number(n);
  const out = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [b, e] = info.data_offsets;
    if (!(b >= 0 && e >= b && base + e <= buf.length)) fail(`${file}: tensor ${name} has bad offsets`);
    const t = { dtype: info.dtype, shape: info.shape };
    if (info.dtype === 'F32') {
      const count = (e - b) / 4;
      const bytes = new Uint8Array(count * 4);  // copy: the slice need not be 4-byte aligned
      bytes.set(buf.subarray(base + b, base + e));
      t.data = new Float32Array(bytes.buffer);
    }
    out[name] = t;
  }
  return out;
}

function maxRelErr(a, ref) {
  if (a.length !== ref.length) return Infinity;
  let num = 0, den = 0;
  for (let i = 0; i < a.length; ++i) {
    const d = Math.abs(a[i] - ref[i]);
    if (!(d <= num)) num = Number.isNaN(d) ? Infinity : d;
    const r = Math.abs(ref[i]);
    if (r > den) den = r;
  }
  return den > 0 ? num / den : num;
}

function median(v) {
  const s = [...v].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : 0.5 * (s[m - 1] + s[m]);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const baselineRss = process.resourceUsage().maxRSS;
  let ort;
  try {
    ort = createRequire(path.join(path.resolve(o.ort), 'package.json'))('onnxruntime-node');
  } catch (e) {
    fail(`cannot load onnxruntime-node from ${o.ort}: ${e.message}`);
  }
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(o.model, {
    intraOpNumThreads: o.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const loadMs = performance.now() - t0;
  const meta = session.inputMetadata[0];
  const shape = meta.shape;
  if (!shape.every((d) => Number.isInteger(d) && d > 0)) fail(`input shape ${JSON.stringify(shape)} is not static`);
  const numel = shape.reduce((a, b) => a * b, 1);
  let x;
  if (o.input) {
    const t = readSafetensors(o.input).input;
    if (!t || !t.data) fail(`${o.input} has no F32 tensor 'input'`);
    if (t.data.length !== numel) fail(`${o.input}: input has ${t.data.length} values, the model wants ${JSON.stringify(shape)}`);
    x = t.data;
  } else {
    x = new Float32Array(numel);
    let s = 12345;
    for (let i = 0; i < numel; ++i) {
      s = (s * 1103515245 + 12345) >>> 0;
      x[i] = (s / 4294967296) * 4 - 2;
    }
  }
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, shape) };
  let out;
  for (let i = 0; i < o.warmup; ++i) out = await session.run(feeds);
  const times = [], cpu = [];
  for (let i = 0; i < o.runs; ++i) {
    const c = process.cpuUsage();
    const a = performance.now();
    out = await session.run(feeds);
    times.push(performance.now() - a);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1000);
  }
  const compare = {};
  for (const c of o.compare) {
    const ref = readSafetensors(c.file);
    const errs = {};
    let worst = 0;
    for (const name of session.outputNames) {
      const r = ref[name];
      if (!r || !r.data) continue;
      const e = maxRelErr(out[name].data, r.data);
      errs[name] = e;
      worst = Math.max(worst, e);
    }
    if (Object.keys(errs).length === 0) fail(`${c.file} holds none of the model's outputs (${session.outputNames.join(', ')})`);
    errs.max = worst;
    compare[c.name] = errs;
  }
  const r = {
    engine: 'onnxruntime',
    version: ort.env.versions.node ?? ort.env.versions.common,
    model: o.model,
    input_shape: shape,
    threads: o.threads,
    runs: o.runs,
    warmup: o.warmup,
    median_ms: median(times),
    min_ms: Math.min(...times),
    max_ms: Math.max(...times),
    times_ms: times,
    cpu_ms: median(cpu),
    load_ms: loadMs,
    peak_rss_kb: process.resourceUsage().maxRSS,
    baseline_rss_kb: baselineRss,
    compare,
  };
  await session.release();
  if (o.json) {
    process.stdout.write(JSON.stringify(r) + '\n');
  } else {
    process.stdout.write(`onnxruntime ${r.version}: ${path.basename(o.model)} ${JSON.stringify(shape)}, ${o.threads} thread(s), ${o.runs} runs\n`);
    process.stdout.write(`  median ${r.median_ms.toFixed(2)} ms, min ${r.min_ms.toFixed(2)}, max ${r.max_ms.toFixed(2)}; CPU ${r.cpu_ms.toFixed(2)} ms; session load ${loadMs.toFixed(0)} ms\n`);
    process.stdout.write(`  peak RSS ${(r.peak_rss_kb / 1024).toFixed(1)} MiB (node alone before loading ORT: ${(baselineRss / 1024).toFixed(1)} MiB)\n`);
    for (const [name, errs] of Object.entries(compare)) {
      process.stdout.write(`  vs ${name}: max rel err ${errs.max.toExponential(2)}\n`);
      for (const [t, e] of Object.entries(errs)) if (t !== 'max') process.stdout.write(`    ${t}: ${e.toExponential(2)}\n`);
    }
  }
}

main().catch((e) => fail(e.stack || String(e)));
