// The page's engine against ONNX Runtime Web, side by side in the same headless Chromium, on the
// same model, shapes and paths: what a visitor would otherwise run (transformers.js imports
// `onnxruntime-web/webgpu`). Prints one table of ratios (Undivided ÷ ORT speed; above 1 is faster).
//
// Set up once (scripts/bench_browser.sh does all three and runs this):
//   npm install --prefix tools/ort --no-save onnxruntime-web@1.31.1
//   tools/onnx-venv/bin/python scripts/export_onnx.py models/all-MiniLM-L6-v2 tools/onnx/all-MiniLM-L6-v2.onnx
//   trunk build --offline            (the page, in dist/)
// Then:
//   NODE_PATH=tools/node_modules node scripts/bench_browser.js [--dist dist] [--paths webgpu,cpu1,cpu2]
//       [--shapes 1x16,8x64,32x128] [--iters 5] [--rounds 2] [--warmup 1] [--json out.json] [--profile N]
//   --profile N: samples the page's engine (V8's CPU profiler, every thread) during its benchmark
//   and prints the N functions with the most self time (wasm functions by their Rust names).
//
// Each round opens every (path, engine) pair in a fresh browser, alternating which engine goes first,
// and measures the first run after load (pipeline compilation on WebGPU) and the mean of `iters`
// runs after a warm-up (ORT: 3 runs and 2 s; the page: 1 run, its module tiered up while it loaded). Undivided is timed by the page's own benchmark (the worker's `bench` request,
// full model); its CPU path with 2 threads is the page with `?threads=2`. ORT gets the same
// shapes, all tokens real, outputs read back to the CPU as the page reads its own.
// The server sends COOP/COEP headers: ORT's threads need a cross-origin isolated page.
const { chromium } = require('playwright-core');
const fs = require('fs'), os = require('os'), path = require('path'), http = require('http');

const ROOT = path.resolve(__dirname, '..');
const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt; };
const dist = path.resolve(arg('dist', path.join(ROOT, 'dist')));
const ortDir = path.join(ROOT, 'tools/ort/node_modules/onnxruntime-web/dist');
const onnxFile = path.resolve(arg('onnx', path.join(ROOT, 'tools/onnx/all-MiniLM-L6-v2.onnx')));
const paths = arg('paths', 'webgpu,cpu1,cpu2').split(',');
const shapes = arg('shapes', '1x16,8x64,32x128').split(',').map((s) => s.split('x').map(Number));
const iters = +arg('iters', '5'), rounds = +arg('rounds', '2');
// Untimed runs of every shape before the timed one, in the same page (both engines): wasm code
// is tiered up while it runs, and with two busy workers on two cores the first timed run paid
// for it (1 × 16 shared over two workers: 34.7 ms, then 20.8 and 19.6). "first" stays the
// page's very first run.
const warmup = +arg('warmup', '1');
const engines = arg('engines', 'undivided,ort').split(',');
for (const [f, what] of [[path.join(dist, 'index.html'), 'the page (trunk build --offline)'], [path.join(ortDir, 'ort.webgpu.min.mjs'), 'onnxruntime-web (npm install --prefix tools/ort onnxruntime-web@1.31.1)'], [onnxFile, 'the ONNX model (scripts/export_onnx.py)']]) {
  if (engines.includes(f === path.join(dist, 'index.html') ? 'undivided' : 'ort') && !fs.existsSync(f)) { console.error(`missing ${f}: ${what}`); process.exit(2); }
}

// ORT's side: a page with one function, as transformers.js would call ORT.
const ORT_PAGE = `<!doctype html><meta charset="utf-8"><title>ort</title><script type="module">
import * as ort from '/ort/ort.webgpu.min.mjs';
ort.env.wasm.wasmPaths = '/ort/';
window.ortBench = async ({ ep, threads, shapes, iters }) => {
  ort.env.wasm.numThreads = threads;
  const t0 = performance.now();
  const session = await ort.InferenceSession.create('/onnx/model.onnx', { executionProviders: [ep] });
  const create_ms = performance.now() - t0;
  const out = [];
  let seed = 7;
  for (const [b, t] of shapes) {
    const ids = new BigInt64Array(b * t), mask = new BigInt64Array(b * t).fill(1n), types = new BigInt64Array(b * t);
    for (let i = 0; i < ids.length; i++) { seed = (seed * 1103515245 + 12345) % 2147483648; ids[i] = BigInt(1000 + (seed % 29000)); }
    const feeds = { input_ids: new ort.Tensor('int64', ids, [b, t]), attention_mask: new ort.Tensor('int64', mask, [b, t]), token_type_ids: new ort.Tensor('int64', types, [b, t]) };
    let s = performance.now();
    (await session.run(feeds)).last_hidden_state.data;
    const first_ms = performance.now() - s;
    // Warm-up to steady state (V8 tiers ORT's 15-30 MB module up from its baseline compiler in
    // the background): at least 3 runs and 2 s. The page's engine got that while it loaded.
    const w = performance.now();
    for (let i = 0; i < 3 || performance.now() - w < 2000; i++) (await session.run(feeds)).last_hidden_state.data;
    s = performance.now();
    for (let i = 0; i < iters; i++) (await session.run(feeds)).last_hidden_state.data;
    out.push({ shape: b + 'x' + t, first_ms, ms: (performance.now() - s) / iters });
  }
  await session.release();
  return { create_ms, isolated: crossOriginIsolated, shapes: out };
};
window.ortReady = true;
</script>`;

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.css': 'text/css' };
function serve() {
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent(req.url.split('?')[0]);
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cache-Control': 'max-age=3600' };
    if (url === '/ort.html') { res.writeHead(200, { ...headers, 'Content-Type': 'text/html' }); return res.end(ORT_PAGE); }
    let file;
    if (url.startsWith('/ort/')) file = path.join(ortDir, url.slice(5));
    else if (url === '/onnx/model.onnx') file = onnxFile;
    else if (url.startsWith('/page/')) file = path.join(dist, url.slice(6) || 'index.html');
    if (!file || !fs.existsSync(file) || fs.statSync(file).isDirectory()) { res.writeHead(404, headers); return res.end(); }
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Content-Length': fs.statSync(file).size });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// --profile: Chromium's trace with V8's sampling profiler (all processes and threads), read back
// through the page's DevTools session; self time summed per function over every thread's samples.
const profileTop = +arg('profile', '0');
async function startProfile(ctx, page) {
  const cdp = await ctx.newCDPSession(page);
  const events = [];
  cdp.on('Tracing.dataCollected', (e) => events.push(...e.value));
  await cdp.send('Tracing.start', { categories: 'disabled-by-default-v8.cpu_profiler,v8', transferMode: 'ReportEvents' });
  return { stop: async () => { const done = new Promise((r) => cdp.once('Tracing.tracingComplete', r)); await cdp.send('Tracing.end'); await done; await cdp.detach(); return events; } };
}
function printProfile(events, label) {
  const nodes = new Map(), self = new Map(); // (pid:tid:profile id) -> node id -> name; name -> µs
  let total = 0;
  for (const e of events.filter((e) => e.name === 'ProfileChunk')) {
    const key = `${e.pid}:${e.id}`, chunk = e.args.data.cpuProfile || {};
    if (!nodes.has(key)) nodes.set(key, new Map());
    for (const n of chunk.nodes || []) nodes.get(key).set(n.id, n.callFrame.functionName || `(${n.callFrame.codeType || 'anonymous'})`);
    const deltas = e.args.data.timeDeltas || [];
    (chunk.samples || []).forEach((id, i) => {
      const name = nodes.get(key).get(id) || '?', dt = deltas[i + 1] || deltas[i] || 0;
      if (name === '(idle)' || name === '(program)') return;
      self.set(name, (self.get(name) || 0) + dt); total += dt;
    });
  }
  console.error(`\nprofile, ${label}: ${(total / 1000).toFixed(0)} ms sampled outside idle`);
  for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, profileTop)) console.error(`${(100 * us / total).toFixed(1).padStart(5)}%  ${name.slice(0, 140)}`);
}

// Rounds are summarised by their median: a round now and then runs slow on a shared VM.
const median = (xs) => { const v = [...xs].sort((a, b) => a - b), m = v.length >> 1; return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2; };

async function undivided(ctx, base, pathName) {
  const page = await ctx.newPage();
  const device = pathName === 'webgpu' ? 'webgpu' : 'cpu';
  const threads = pathName === 'cpu2' ? 2 : 1;
  const t0 = Date.now();
  await page.goto(`${base}/page/index.html?device=${device}&threads=${threads}`);
  await page.waitForFunction(() => !document.getElementById('encode').disabled || document.getElementById('error').textContent, null, { timeout: 900000 });
  const loaded_ms = Date.now() - t0;
  let err = await page.textContent('#error');
  if (err) throw new Error(`page: ${err}`);
  let on = await page.textContent('#status');
  // A build of the page from before `?device=` (the baseline): choose the path by hand.
  if (/on WebGPU/.test(on) !== (device === 'webgpu')) {
    await page.setChecked('#use-cpu', device === 'cpu');
    await page.click('#load');
    await page.waitForFunction(() => /^Loaded|failed/.test(document.getElementById('status').textContent), null, { timeout: 900000 });
    err = await page.textContent('#error');
    if (err) throw new Error(`page: ${err}`);
    on = await page.textContent('#status');
  }
  await page.evaluate(() => document.querySelectorAll('details').forEach((d) => { d.open = true; }));
  const out = [], firsts = new Map();
  for (let pass = 0; pass <= warmup; pass++) for (const [b, t] of shapes) {
    await page.evaluate(() => { window.benchReply = null; });
    await page.fill('#bench-batch', String(b)); await page.fill('#bench-len', String(t)); await page.fill('#bench-iters', String(iters));
    const tracing = profileTop && await startProfile(ctx, page);
    await page.click('#bench');
    await page.waitForFunction(() => window.benchReply || document.getElementById('error').textContent, null, { timeout: 1800000 });
    const reply = await page.evaluate(() => window.benchReply);
    if (tracing) printProfile(await tracing.stop(), `${pathName} ${b}x${t}`);
    if (!reply) throw new Error(`page: ${await page.textContent('#error')}`);
    if (!firsts.has(`${b}x${t}`)) firsts.set(`${b}x${t}`, reply.full.first_ms);
    if (pass < warmup) continue;
    out.push({ shape: `${b}x${t}`, first_ms: firsts.get(`${b}x${t}`), ms: reply.full.ms_per_batch, reduced_ms: reply.reduced.ms_per_batch, reduced_plan: reply.reduced.plan, launches: reply.full.launches && reply.full.launches.total });
  }
  await page.close();
  return { loaded_ms, status: on, shapes: out };
}

async function ort(ctx, base, pathName) {
  const page = await ctx.newPage();
  await page.goto(`${base}/ort.html`);
  await page.waitForFunction(() => window.ortReady, null, { timeout: 60000 });
  const ep = pathName === 'webgpu' ? 'webgpu' : 'wasm', threads = pathName === 'cpu2' ? 2 : 1;
  const first = warmup > 0 ? await page.evaluate((a) => window.ortBench(a), { ep, threads, shapes, iters }) : null;
  for (let pass = 1; pass < warmup; pass++) await page.evaluate((a) => window.ortBench(a), { ep, threads, shapes, iters });
  const r = await page.evaluate((a) => window.ortBench(a), { ep, threads, shapes, iters });
  if (first) r.shapes.forEach((s, i) => { s.first_ms = first.shapes[i].first_ms; });
  await page.close();
  if (!r.isolated && threads > 1) console.error('warning: the ORT page is not cross-origin isolated; it runs one thread');
  return r;
}

(async () => {
  const server = await serve();
  const base = `http://127.0.0.1:${server.address().port}`;
  // A fresh browser (profile, code cache) for every engine's turn, as on a visitor's first visit:
  // in one browser ORT's two-thread 1 × 16 ran anywhere from 11 to 52 ms depending on which
  // pages had run before it, while the page's engine did not move (sixteenth session,
  // docs/benchmarks.md).
  const launch = async () => {
    const udd = fs.mkdtempSync(path.join(os.tmpdir(), 'undivided-bench-browser-'));
    const ctx = await chromium.launchPersistentContext(udd, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium', ignoreDefaultArgs: true, viewport: { width: 1100, height: 900 },
      args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-dev-shm-usage', '--no-first-run', `--user-data-dir=${udd}`, '--remote-debugging-pipe', 'about:blank'],
    });
    return { ctx, close: async () => { await ctx.close(); fs.rmSync(udd, { recursive: true, force: true }); } };
  };
  let version = null;
  const results = []; // {round, path, engine, ...}
  for (let round = 0; round < rounds; round++) {
    for (const p of paths) {
      const order = round % 2 === 0 ? engines : [...engines].reverse();
      for (const engine of order) {
        const t = Date.now();
        const { ctx, close } = await launch();
        version = version || (ctx.browser() ? ctx.browser().version() : await (await ctx.newPage()).evaluate(() => navigator.userAgent));
        let r;
        try {
          r = engine === 'ort' ? await ort(ctx, base, p) : await undivided(ctx, base, p);
        } finally {
          await close();
        }
        results.push({ round, path: p, engine, ...r });
        console.error(`round ${round + 1}, ${p}, ${engine}: ${r.shapes.map((s) => `${s.shape} first ${s.first_ms.toFixed(0)} ms, ${s.ms.toFixed(1)} ms`).join('; ')} (${((Date.now() - t) / 1000).toFixed(0)} s)`);
      }
    }
  }
  server.close();

  // One row per path and shape: each engine's median over rounds, and the ratio of speeds.
  console.log(`\nChromium ${version}, ${os.cpus().length} × ${os.cpus()[0].model}; ${iters} runs after ${warmup} untimed run(s) of every shape and one warm-up pass, median of ${rounds} round(s)\n`);
  console.log('| path | shape | ORT first | ORT steady | Undivided first | Undivided steady | Undivided ÷ ORT speed | reduced speed-up |');
  console.log('|---|---|---|---|---|---|---|---|');
  const cell = (engine, p, shape, key) => {
    const xs = results.filter((r) => r.engine === engine && r.path === p).map((r) => r.shapes.find((s) => s.shape === shape)).filter(Boolean).map((s) => s[key]);
    return xs.length ? xs : null;
  };
  const f = (xs) => (xs ? (median(xs) >= 1000 ? `${(median(xs) / 1000).toFixed(2)} s` : `${median(xs).toFixed(1)} ms`) : '–');
  for (const p of paths) {
    for (const [b, t] of shapes) {
      const shape = `${b}x${t}`;
      const o = cell('ort', p, shape, 'ms'), u = cell('undivided', p, shape, 'ms'), red = cell('undivided', p, shape, 'reduced_ms');
      const ratio = o && u ? `${(median(o) / median(u)).toFixed(2)}×` : '–';
      const speedup = u && red ? `${(median(u) / median(red)).toFixed(2)}×` : '–';
      console.log(`| ${p} | ${b} × ${t} | ${f(cell('ort', p, shape, 'first_ms'))} | ${f(o)} | ${f(cell('undivided', p, shape, 'first_ms'))} | ${f(u)} | ${ratio} | ${speedup} |`);
    }
  }
  const launches = results.find((r) => r.engine === 'undivided' && r.path === 'webgpu');
  if (launches) console.log(`\nUndivided's launches per forward pass (full model, WebGPU): ${launches.shapes.map((s) => `${s.shape}: ${s.launches}`).join(', ')}`);
  const out = arg('json');
  if (out) fs.writeFileSync(out, JSON.stringify({ chromium: version, cpu: os.cpus()[0].model, cores: os.cpus().length, iters, rounds, results }, null, 1));
})().catch((e) => { console.error(e); process.exit(1); });
