// ONNX Runtime peer for `vireo-bench models`: times one (model, batch, threads)
// and prints one JSON line on stdout.
//
//   node bench/ort_bench.mjs --model M.onnx --batch B --threads T [--runs N]
//                            [--warmup W] [--hw 224 | --ids CTX] [--clock auto|wall]
//                            [--ort DIR/node_modules/onnxruntime-node] [--dump OUT.f32]
//
// Session: intraOpNumThreads = T, interOpNumThreads = 1, graph optimizations
// "all", executionMode "sequential", CPU execution provider only. The input is
// B×3×H×W float32 (NCHW, what torch.onnx.export produces), filled with the
// same deterministic pattern as tools/torch_reference.py's input_value; with
// --ids CTX (a text tower) it is B×CTX int64 token ids instead, row b being
// tools/torch_reference.py's clip_text_ids()[b % 3] (vireo-bench models feeds
// the same rows).
// Timing: W warm-up runs, then N runs of one session.run each; the median is
// reported (lower median for even N). Clock "auto": with T = 1 the process CPU
// time (process.cpuUsage: ORT runs the whole graph on the calling thread; the
// few ms node spends elsewhere are ~nothing next to a run), else the wall clock
// (process.hrtime), like vireo-bench's own rows.
// --dump: after timing, writes the first output of the last run (B × classes
// float32, little-endian) to OUT.f32, so the caller can compare it with its own.
// --serve: after the warm-up, print {"ok":true,"ready":true,...} and then, for
// each line "run N" on stdin, time N runs and print {"ok":true,"ms":median};
// at the end of stdin write --dump and exit. vireo-bench models --rounds keeps
// one such process per row and alternates its rounds with our own, so the
// two are timed seconds apart at most, without reloading the model.
// Output: {"ok":true,"ms":median ms per run,"ms_per_image":...,"runs":N,
//          "ort_version":"...","clock":"..."} or {"ok":false,"error":"..."}.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

function arg(name, dflt) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

function fail(msg) {
  process.stdout.write(JSON.stringify({ ok: false, error: String(msg) }) + '\n');
  process.exit(1);
}

const model = arg('model');
const batch = parseInt(arg('batch', '1'), 10);
const threads = parseInt(arg('threads', '1'), 10);
const runs = parseInt(arg('runs', '5'), 10);
const warmup = parseInt(arg('warmup', '2'), 10);
const hw = parseInt(arg('hw', '224'), 10);
const ctx = parseInt(arg('ids', '0'), 10);
const clockOpt = arg('clock', 'auto');
const dump = arg('dump');
const serve = process.argv.includes('--serve');
const ortDir = arg('ort', process.env.VIREO_ORT_NODE ||
  path.join(process.env.VIREO_BENCH_MODELS || '/tmp/vireo-bench-models',
            'node_modules', 'onnxruntime-node'));
if (!model || !(batch >= 1) || !(threads >= 1) || !(runs >= 1) || !(warmup >= 0))
  fail('usage: ort_bench.mjs --model M.onnx --batch B --threads T [--runs N]');

let ort;
try {
  const require = createRequire(import.meta.url);
  ort = require(ortDir);
} catch (e) {
  fail(`cannot load onnxruntime-node from ${ortDir}: ${e.message}`);
}

function inputValue(h, w, c) { // tools/torch_reference.py input_value
  const P = 97;
  const n1 = 3 * h + 2 * w + 23 * c, n2 = h + 5 * w + 41 * c + 11;
  const v = (3 * Math.abs(2 * (n1 % P) - P) + 2 * Math.abs(2 * (n2 % P) - P)) / (5 * P);
  return 4 * v - 2;
}

// tools/torch_reference.py clip_text_ids: [49406] + n ids + [49407], n = 5, 30,
// 100 (truncated to ctx with 49407 last), zero-padded.
function clipTextIds(b, context) {
  const n = [5, 30, 100][b % 3], row = b % 3;
  let ids = [49406];
  for (let i = 0; i < n; i++)
    ids.push(1 + (i * 7919 + row * 104729) % 49405);
  ids.push(49407);
  if (ids.length > context) {
    ids = ids.slice(0, context);
    ids[context - 1] = 49407;
  }
  while (ids.length < context)
    ids.push(0);
  return ids;
}

const cpuClock = clockOpt !== 'wall' && threads === 1;
function nowMs() {
  if (cpuClock) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e3;
  }
  return Number(process.hrtime.bigint()) / 1e6;
}

try {
  const sess = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  let input;
  if (ctx > 0) {
    const x = new BigInt64Array(batch * ctx);
    for (let b = 0; b < batch; b++)
      clipTextIds(b, ctx).forEach((v, j) => { x[b * ctx + j] = BigInt(v); });
    input = new ort.Tensor('int64', x, [batch, ctx]);
  } else {
    const n = batch * 3 * hw * hw;
    const x = new Float32Array(n);
    for (let b = 0, i = 0; b < batch; b++)
      for (let c = 0; c < 3; c++)
        for (let h = 0; h < hw; h++)
          for (let w = 0; w < hw; w++)
            x[i++] = inputValue(h, w, c);
    input = new ort.Tensor('float32', x, [batch, 3, hw, hw]);
  }
  const feeds = { [sess.inputNames[0]]: input };
  for (let i = 0; i < warmup; i++)
    await sess.run(feeds);
  let version = null;
  try { version = ort.env.versions?.node ?? ort.env.versions?.common ?? null; } catch { }
  let res;
  const timed = async (n) => {
    const t = [];
    for (let r = 0; r < n; r++) {
      const t0 = nowMs();
      res = await sess.run(feeds);
      t.push(nowMs() - t0);
    }
    t.sort((a, b) => a - b);
    return t[(n - 1) >> 1];
  };
  if (serve) {
    process.stdout.write(JSON.stringify({
      ok: true, ready: true, batch, threads, clock: cpuClock ? 'process-cpu' : 'wall',
      ort_version: version,
    }) + '\n');
    const rl = (await import('node:readline')).createInterface({ input: process.stdin });
    for await (const line of rl) {
      const m = /^run (\d+)$/.exec(line.trim());
      if (!m || !(parseInt(m[1], 10) >= 1))
        fail(`bad request '${line}'`);
      const ms = await timed(parseInt(m[1], 10));
      process.stdout.write(JSON.stringify({ ok: true, ms, ms_per_image: ms / batch }) + '\n');
    }
  }
  const ms = serve ? 0 : await timed(runs);
  if (dump && res) {
    const out = res[sess.outputNames[0]].data;
    fs.writeFileSync(dump, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
  }
  if (!serve)
    process.stdout.write(JSON.stringify({
      ok: true, ms, ms_per_image: ms / batch, runs, warmup, batch, threads,
      clock: cpuClock ? 'process-cpu' : 'wall', ort_version: version,
    }) + '\n');
  await sess.release?.();
} catch (e) {
  fail(e.message || e);
}
