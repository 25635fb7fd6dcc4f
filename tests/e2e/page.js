// End-to-end test of the served page in Debian's headless Chromium with WebGPU
// (--enable-unsafe-webgpu; SwiftShader). Usage: node tests/e2e/page.js URL SCREENSHOT.png [--hosted]
// Checks the committed findings on first visit and that no main-thread task exceeds 200 ms while
// the model loads, runs and trains in its worker. With --hosted (the static build of
// .github/workflows/pages.yml served under a sub-path, no runs published) it stops after the
// first visit: findings, the f16 default model, both models on a sentence pair.
// Otherwise it goes on: loads the default model, runs both models on a sentence pair, benchmarks them; loads a tiny
// model, heals its reduced version and quick-fine-tunes both (loss curves drawn), then feeds the page bad input:
// an empty sentence, a 10,000-character paste, a TSV with a bad row, rows from a (faked)
// datasets-server, a wrong URL and a corrupt checkpoint. Prints "N passed, M failed".
const { chromium } = require('playwright-core');
const fs = require('fs'), os = require('os'), path = require('path');

const url = process.argv[2], shot = process.argv[3] || 'page.png', hosted = process.argv.includes('--hosted');
// The page's thread must stay free: every model call runs in the worker (src/web/worker.rs).
const LONG_TASK_MS = 200;
let passed = 0, failed = 0;
// The CPU path's results for the first sentence pair, its pass shared by two workers.
let cpuShared = '';
function check(name, ok, detail = '') {
  if (ok) { passed++; console.log(`ok   ${name}`); } else { failed++; console.log(`FAIL ${name} ${detail}`); }
}
const MIN = 60000;

(async () => {
  const udd = fs.mkdtempSync(path.join(os.tmpdir(), 'undivided-chromium-'));
  const args = ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage',
    `--user-data-dir=${udd}`, '--remote-debugging-pipe', 'about:blank'];
  const ctx = await chromium.launchPersistentContext(udd, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args, ignoreDefaultArgs: true,
    viewport: { width: 1100, height: 900 },
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Every main-thread task over 50 ms, as the browser reports it (PerformanceObserver `longtask`).
  await page.addInitScript(() => {
    window.longTasks = [];
    new PerformanceObserver((list) => { for (const e of list.getEntries()) window.longTasks.push(Math.round(e.duration)); }).observe({ type: 'longtask', buffered: true });
  });
  const longest = async () => page.evaluate(() => Math.max(0, ...window.longTasks));
  const openSettings = () => page.evaluate(() => document.querySelectorAll('details').forEach((d) => { d.open = true; }));
  const text = async (sel) => (await page.textContent(sel)).replace(/\s+/g, ' ');
  const idle = () => page.waitForFunction(() => !document.getElementById('load').disabled, null, { timeout: 10 * MIN });
  // Loads a checkpoint by its address; runs both models on the sentence in the page.
  const loadModel = async (source) => { await page.fill('#model-url', source); await page.click('#load'); await idle(); };
  const encodeBoth = async () => {
    await page.evaluate(() => { document.title = ''; });
    await page.click('#encode');
    await page.waitForFunction(() => document.title.includes('encoded') || document.getElementById('error').textContent, null, { timeout: 4 * MIN });
  };
  const errorShown = () => page.waitForFunction(() => document.getElementById('error').textContent, null, { timeout: 5 * MIN });
  const ready = () => page.waitForFunction(() => !document.getElementById('encode').disabled || document.getElementById('error').textContent, null, { timeout: 4 * MIN });
  const withParams = (u, params) => { const x = new URL(u); for (const [k, v] of Object.entries(params)) x.searchParams.set(k, v); return x.href; };
  try {
    // SwiftShader is a software (fallback) adapter: the page takes the CPU path by itself. The
    // main run asks for two CPU workers (`?threads=2`), so that the benchmark splits its batch.
    await page.goto(hosted ? url : withParams(url, { threads: 2 }));
    await ready();
    const auto = await text('#status');
    check('on a software adapter the page picks the CPU path by itself, and says why', /Loaded .* on the CPU/.test(auto) && /software fallback/.test(await text('#adapter')) &&
      /using the CPU path/.test(await text('#adapter')) && await page.isChecked('#use-cpu'), `status: ${auto}; adapter: ${await text('#adapter')}; error: ${await text('#error')}`);
    if (!hosted) {
      // Served cross-origin isolated (scripts/serve.py): the two workers share each sentence.
      check('the CPU path starts the workers asked for, sharing each sentence', /\(2 workers, sharing each sentence\)/.test(auto), auto);
      const t0 = Date.now();
      await page.click('#encode');
      await page.waitForFunction(() => document.title.includes('encoded') || document.getElementById('error').textContent, null, { timeout: 4 * MIN });
      check('both models run on the CPU path', /latency\s*[\d.]+ ms\s*[\d.]+ ms/.test(await text('#results')), (await text('#results')) + (await text('#error')));
      console.log(`timing: first prediction of both models on the CPU path after load ${((Date.now() - t0) / 1000).toFixed(2)} s`);
      cpuShared = await text('#results');
      await openSettings();
      await page.fill('#bench-batch', '1'); await page.fill('#bench-len', '16'); await page.fill('#bench-iters', '2');
      await page.click('#bench');
      await page.waitForFunction(() => window.benchReply || document.getElementById('error').textContent, null, { timeout: 4 * MIN });
      const shared = await text('#bench-results');
      check('the CPU benchmark shares one sentence over both workers by heads and columns', /CPU workers sharing the batch\s*2, splitting each layer's heads and columns/.test(shared) && /sentences \/ s\s*[\d.]+\s*[\d.]+/.test(shared), shared + (await text('#error')));
      await page.evaluate(() => { window.benchReply = null; });
      await page.fill('#bench-batch', '3'); await page.fill('#bench-len', '16'); await page.fill('#bench-iters', '1');
      await page.click('#bench');
      await page.waitForFunction(() => window.benchReply || document.getElementById('error').textContent, null, { timeout: 4 * MIN });
      const split = await text('#bench-results');
      check('the CPU benchmark splits its batch over both workers', /CPU workers sharing the batch\s*2\s*2/.test(split) && /sentences \/ s\s*[\d.]+\s*[\d.]+/.test(split) &&
        (await page.evaluate(() => window.benchReply.full.batch_size)) === 3, split + (await text('#error')));
      // From here on WebGPU, as the address can ask.
      await page.goto(withParams(url, { device: 'webgpu' }));
      await ready();
    }
    const status = await text('#status');
    check(`model loads on ${hosted ? 'the CPU path' : 'WebGPU'}, named in plain words`, (hosted ? /Loaded .* on the CPU \(burn's wasm backend\)/ : /Loaded .* on WebGPU \(.+\)/).test(status) && !/Device|Wgpu|Cube/.test(status), `status: ${status} error: ${await text('#error')}`);
    check('the adapter is shown', /WebGPU adapter/.test(await text('#adapter')), await text('#adapter'));
    check('one toggle per layer', (await page.$$('#layers input[data-layer]')).length === 6);
    check('parameter table', /22,713,216/.test(await text('#stats')));
    check('the default model travels as f16: 45 MB downloaded, both sizes shown', /Loaded all-MiniLM-L6-v2-f16/.test(status) && /downloaded\s*45\.4 MB/.test(await text('#stats')) && /90\.9 \/ 45\.4 MB/.test(await text('#stats')), await text('#stats'));
    // First visit: the committed study (docs/results/, built into the site) before any run.
    await page.waitForFunction(() => document.querySelectorAll('#findings-answers li').length > 0 || /could not/.test(document.getElementById('findings-note').textContent), null, { timeout: MIN });
    const findings = await text('#findings-section');
    // The first study the index lists, as committed: every task's answer and the reference trainer's row where it has one.
    const committed = path.join(__dirname, '..', '..', 'docs', 'results');
    const first = JSON.parse(fs.readFileSync(path.join(committed, JSON.parse(fs.readFileSync(path.join(committed, 'index.json'))).studies[0].path)));
    const tableText = await text('#findings-table');
    check('the committed findings are shown on first visit: every task\'s answer, table and chart', first.tasks.every((t) => findings.includes(t.answer.replace(/\s+/g, ' ')) && tableText.includes(t.task)) &&
      (await page.$$('#findings-table tr')).length >= 1 + first.tasks.reduce((n, t) => n + 1 + t.rows.length + (t.reference ? 1 : 0), 0) && !(await page.$eval('#findings-chart', (c) => c.hidden)), findings.slice(0, 400));
    check('the reference trainer\'s runs are shown beside the full model', first.tasks.every((t) => !t.reference || (tableText.includes(t.reference.trainer) && findings.includes(`${t.task}: the full model here`))), tableText.slice(0, 400));
    check('no main-thread task over 200 ms while the page and the model load', (await longest()) <= LONG_TASK_MS, `longest ${await longest()} ms: ${await page.evaluate(() => window.longTasks.join(', '))}`);

    await page.click('#encode');
    await page.waitForFunction(() => document.title.includes('encoded') || document.getElementById('error').textContent, null, { timeout: 4 * MIN });
    const results = await text('#results');
    check('both models run', /latency\s*[\d.]+ ms\s*[\d.]+ ms/.test(results), results);
    const cos = parseFloat((results.match(/of \[CLS\]\s*([-\d.]+)/) || [])[1]);
    check('reduced differs from full but stays related', cos > 0.3 && cos < 0.9999, `cosine ${cos}`);
    check('sentence similarity for a pair', /similarity of the two sentences\s*0\.\d+\s*0\.\d+/.test(results), results);
    check('no main-thread task over 200 ms while both models run', (await longest()) <= LONG_TASK_MS, `longest ${await longest()} ms`);
    check('the header band shows both latencies', /latency, one input \(last run\)\s*[\d.]+ ms\s*[\d.]+ ms/.test(await text('#stats')), await text('#stats'));
    const f16Similarity = parseFloat((results.match(/similarity of the two sentences\s*([\d.]+)/) || [])[1]);
    if (!hosted) {
      // The two CPU workers, each computing half of every dense layer's columns, gave WebGPU's
      // outputs (the same f16 weights; rounding apart): a wrong share would not come close.
      const on = (r, re) => parseFloat((r.match(re) || [])[1]);
      const [cpuCos, cpuSim] = [on(cpuShared, /of \[CLS\]\s*([-\d.]+)/), on(cpuShared, /similarity of the two sentences\s*([\d.]+)/)];
      check('the CPU workers sharing a sentence give WebGPU\'s outputs', Math.abs(cpuCos - cos) < 2e-3 && Math.abs(cpuSim - f16Similarity) < 2e-3,
        `CPU shared: cosine ${cpuCos}, similarity ${cpuSim}; WebGPU: ${cos}, ${f16Similarity}`);
    }
    if (hosted) {
      check('the hosted build says no runs are published', /No native runs are published/.test(await text('#runs-index')), await text('#runs-index'));
      // A phone's width: nothing wider than the screen but the findings table, which scrolls.
      await page.setViewportSize({ width: 390, height: 844 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      check('the page fits a phone\'s width', overflow <= 1, `${overflow} px wider than the screen`);
      await page.screenshot({ path: shot.replace(/\.png$/, '-phone.png'), fullPage: true });
      await page.setViewportSize({ width: 1100, height: 900 });
      await page.screenshot({ path: shot, fullPage: true });
      check('no uncaught page errors', errors.length === 0, errors.join('; '));
      return;
    }

    // `+norm`: the removed blocks keep their LayerNorm (2 x 384 weights in each of 4 layers), and
    // the reduced model is a different one.
    await page.click('#keep-norm');
    await page.waitForFunction(() => /0,5\+norm/.test(document.getElementById('stats').textContent), null, { timeout: MIN }).catch(() => {});
    const normStats = await text('#stats');
    check('+norm plan in the table, with its LayerNorms counted', /0,5\+norm/.test(normStats) && /17,986,944/.test(normStats), normStats);
    await encodeBoth();
    const normResults = await text('#results');
    const normCos = parseFloat((normResults.match(/of \[CLS\]\s*([-\d.]+)/) || [])[1]);
    check('+norm reduced model runs and differs from the plain cut', normCos > 0.3 && Math.abs(normCos - cos) > 1e-4, `cosine ${normCos} vs ${cos}`);
    await page.click('#keep-norm');

    // The f32 checkpoint gives the f16 one's outputs: sentence similarity of the full model
    // within 2e-3 (the weights differ by f16 rounding only).
    await loadModel('models/all-MiniLM-L6-v2');
    await encodeBoth();
    const f32Similarity = parseFloat(((await text('#results')).match(/similarity of the two sentences\s*([\d.]+)/) || [])[1]);
    check('the f16 default model gives the f32 model\'s outputs', /downloaded\s*90\.9 MB/.test(await text('#stats')) && Math.abs(f32Similarity - f16Similarity) < 2e-3,
      `similarity f16 ${f16Similarity} vs f32 ${f32Similarity}; ${await text('#stats')} ${await text('#error')}`);
    await page.fill('#model-url', 'models/all-MiniLM-L6-v2-f16');

    // A reload takes the checkpoint from the Cache API instead of downloading it again.
    const firstLoad = await text('#load-detail');
    await page.reload();
    await page.waitForFunction(() => !document.getElementById('encode').disabled || document.getElementById('error').textContent, null, { timeout: 4 * MIN });
    const cached = await text('#load-detail');
    check('a reload loads the checkpoint from the browser cache', /from the browser cache/.test(cached), `${firstLoad} / ${cached}`);

    // A cache that refuses to store (a full disk, an exhausted quota) costs only the cache: the
    // model still loads, the console says why the next load downloads again, nothing is uncaught.
    // The checkpoint is fetched and cached by the model worker: the refusal is set up there.
    let failCachePut = false;
    page.on('worker', (w) => {
      if (failCachePut) w.evaluate(() => { Cache.prototype.put = () => Promise.reject(new DOMException('refused by the test', 'QuotaExceededError')); }).catch(() => {});
    });
    const warnings = [];
    page.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
    failCachePut = true;
    await page.evaluate(async () => { await caches.delete('undivided-checkpoints-v1'); });
    const errorsBefore = errors.length;
    await page.reload();
    await page.waitForFunction(() => !document.getElementById('encode').disabled || document.getElementById('error').textContent, null, { timeout: 4 * MIN });
    await page.waitForTimeout(500);
    const refused = await text('#status');
    check('a cache that refuses to store still loads the model, with a warning',
      /Loaded .* on WebGPU/.test(refused) && errors.length === errorsBefore && warnings.some((w) => /not kept in the browser cache/.test(w)),
      `status: ${refused}; errors: ${errors.slice(errorsBefore).join('; ')}; warnings: ${warnings.join('; ')}`);
    failCachePut = false;

    const t0 = Date.now();
    await page.click('#encode');
    await page.waitForFunction(() => document.title.includes('encoded') || document.getElementById('error').textContent, null, { timeout: 4 * MIN });
    console.log(`timing: first load "${firstLoad}"; after reload "${cached}"; first prediction of both models after the reload ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    await openSettings();
    await page.fill('#bench-batch', '2'); await page.fill('#bench-len', '16'); await page.fill('#bench-iters', '1');
    await page.click('#bench');
    await idle();
    const bench = await text('#bench-results');
    check('benchmark reports both models', /sentences \/ s\s*[\d.]+\s*[\d.]+/.test(bench) && /start-up/.test(bench), bench + (await text('#error')));
    const launches = (bench.match(/GPU kernel launches per forward pass\s*([\d,]+)\s*([\d,]+)/) || []).slice(1).map((x) => +x.replace(/,/g, ''));
    check('benchmark counts GPU kernel launches per forward pass, fewer for the reduced model', launches.length === 2 && launches[1] > 0 && launches[1] < launches[0], bench);
    check('benchmark chart drawn', !(await page.$eval('#bench-chart', (c) => c.hidden)));

    // Training in the page: on SwiftShader a MiniLM step takes about a minute, so a tiny random
    // BERT served beside the page (by the test script) is healed and fine-tuned instead.
    await loadModel('test-models/tiny');
    check('a second model loads', /Loaded tiny/.test(await text('#status')) && (await page.$$('#layers input[data-layer]')).length === 3, await text('#status') + (await text('#error')));
    // The CPU fallback runs in the worker too (burn's wasm CPU backend), then back to WebGPU.
    await page.check('#use-cpu');
    await page.click('#load');
    await idle();
    const cpuStatus = await text('#status');
    await encodeBoth();
    check('the CPU backend loads and runs in the worker', /Loaded tiny on the CPU \(burn's wasm backend\)/.test(cpuStatus) && /latency\s*[\d.]+ ms\s*[\d.]+ ms/.test(await text('#results')),
      `${cpuStatus} / ${await text('#results')} ${await text('#error')}`);
    // Quick fine-tuning on the CPU path: both models, 2 steps.
    await openSettings();
    await page.fill('#train-steps', '2'); await page.fill('#train-batch', '4'); await page.fill('#train-len', '32');
    await page.evaluate(() => { document.title = ''; });
    await page.click('#train');
    await page.waitForFunction(() => document.title.includes('trained') || document.getElementById('error').textContent, null, { timeout: 5 * MIN });
    await idle();
    check('quick fine-tuning on the CPU path: both loss curves', (await page.$eval('#loss-chart', (c) => c.dataset.points)) === '4' && /dev accuracy/.test(await text('#train-results')), (await text('#train-results')) + (await text('#error')));
    await page.uncheck('#use-cpu');
    await page.click('#load');
    await idle();
    // Heal the reduced model for 2 steps, then fine-tune both for 2 steps on the built-in sample.
    await openSettings();
    await page.fill('#heal-steps', '2'); await page.fill('#train-steps', '2');
    await page.fill('#train-batch', '4'); await page.fill('#train-len', '32');
    await page.click('#heal');
    await idle();
    check('healing runs with a live curve', (await page.$eval('#heal-chart', (c) => c.dataset.points)) === '2', await text('#status') + (await text('#error')));
    check('the healed model is offered for fine-tuning', await page.$eval('#use-healed', (c) => c.checked));
    await page.click('#train');
    await page.waitForFunction(() => document.title.includes('trained') || document.getElementById('error').textContent, null, { timeout: 10 * MIN });
    await idle();
    const trained = await text('#train-results');
    check('quick fine-tuning: both loss curves on one chart', (await page.$eval('#loss-chart', (c) => c.dataset.points)) === '4', await text('#error'));
    check('quick fine-tuning: dev accuracy and time per step', /dev accuracy \(59 examples\)\s*[\d.]+\s*[\d.]+/.test(trained) && /time per step/.test(trained), trained);
    check('no main-thread task over 200 ms while both models fine-tune', (await longest()) <= LONG_TASK_MS, `longest ${await longest()} ms: ${await page.evaluate(() => window.longTasks.join(', '))}`);
    check('the quick fine-tune is shown beside the committed findings', /Your quick fine-tune in this page \(2 steps/.test(await text('#findings-yours')), await text('#findings-yours'));
    // Stop: a 500-step run stops after the step under way.
    await page.fill('#train-steps', '500');
    await page.evaluate(() => { document.title = ''; });
    await page.click('#train');
    await page.waitForFunction(() => /step ([2-9]|\d\d+) \/ 500/.test(document.getElementById('train-detail').textContent), null, { timeout: 5 * MIN });
    // Clicked and read in one go: the step shown when Stop was pressed.
    const atClick = await page.evaluate(() => { document.getElementById('stop').click(); return +document.getElementById('train-detail').textContent.match(/step (\d+)/)[1]; });
    await page.waitForFunction(() => document.title.includes('stopped') || document.getElementById('error').textContent, null, { timeout: 5 * MIN });
    await idle();
    const stoppedAt = +(((await text('#status')).match(/Stopped after step (\d+)/) || [])[1]);
    check('Stop interrupts a running fine-tune within a step', stoppedAt >= atClick && stoppedAt <= atClick + 1 && stoppedAt < 500 && /steps\s*\d+\s*\d+/.test(await text('#train-results')), `pressed at step ${atClick}; ${await text('#status')} ${await text('#error')}`);
    await page.fill('#train-steps', '2');
    await page.screenshot({ path: shot, fullPage: true });

    // CKA between the tiny model and its reduced version, as a heat map.
    await page.fill('#cka-n', '24');
    await page.click('#cka');
    await idle();
    const ckaText = await text('#cka-results');
    check('CKA heat map of full vs reduced', /embeddings.*layer 3/.test(ckaText) && /1\.000/.test(ckaText) && !(await page.$eval('#cka-chart', (c) => c.hidden)), ckaText + (await text('#error')));

    // Linear probes of every layer of both models, as a line chart.
    await page.fill('#probe-n', '120'); await page.fill('#probe-steps', '20');
    await page.click('#probe');
    await idle();
    const probeText = await text('#probe-results');
    check('probe curve of full vs reduced', /embeddings.*layer 3/.test(probeText) && /full.*reduced/.test(probeText) && (await page.$eval('#probe-chart', (c) => c.dataset.points)) === '8', probeText + (await text('#error')));

    // Native results beside the page's own: a compare.json as `undivided compare` writes it.
    const compare = { title: 'all-MiniLM-L6-v2 on sst2', rows: [
      { plan: 'all', variant: 'deleted', metric: 'accuracy', values: [0.8956], mean: 0.8956, std: 0, params: 22713986, params_ratio: 1, flops_ratio: 1, train_seconds: 3114, examples_per_second: 21.6, speedup: 1, delta_vs_full: 0, heal_seconds: null, heal_examples: null },
      { plan: '0,5', variant: 'healed', metric: 'accuracy', values: [0.85], mean: 0.85, std: 0, params: 17984642, params_ratio: 0.79, flops_ratio: 0.57, train_seconds: 2000, examples_per_second: 33.6, speedup: 1.5, delta_vs_full: -0.04, heal_seconds: 900, heal_examples: 12800 }] };
    await page.setInputFiles('#results-file', { name: 'compare.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(compare)) });
    await page.click('#results-load');
    await page.waitForFunction(() => document.getElementById('native-results').textContent || document.getElementById('error').textContent, null, { timeout: MIN });
    const native = await text('#native-results');
    check('native results shown beside the page\'s own', /native\s*full\s*89\.6%/.test(native) && /native\s*0,5 healed\s*85\.0%/.test(native) && /healing/.test(native) && /this page/.test(native), native + (await text('#error')));
    await page.setInputFiles('#results-file', { name: 'other.json', mimeType: 'application/json', buffer: Buffer.from('{"hello": 1}') });
    await page.click('#results-load');
    await errorShown();
    check('a file that is not a results file is refused by name', /other\.json.*compare\.json/.test(await text('#error')), await text('#error'));

    // Native runs published beside the page (test.sh fine-tuned the tiny model natively and ran
    // `undivided publish` into dist/runs): listed, their results shown, their checkpoint loaded.
    const published = await page.$eval('#model-list', (d) => [...d.options].map((o) => o.value));
    check('published native runs are listed', published.includes('runs/tiny-sst2') && /1 native checkpoint|native checkpoint\(s\) published/.test(await text('#runs-index')), published.join(', ') + ' / ' + (await text('#runs-index')));
    await page.selectOption('#results-list', 'runs/tiny-sst2/results.json');
    await page.waitForFunction(() => /tiny-sst2\/results\.json/.test(document.getElementById('status').textContent) || document.getElementById('error').textContent, null, { timeout: MIN });
    check('a published results file is shown', /native\s*full/.test(await text('#native-results')) && !(await text('#error')), (await text('#native-results')) + (await text('#error')));
    await loadModel('runs/tiny-sst2');
    check('a published fine-tuned checkpoint loads', /Loaded tiny-sst2/.test(await text('#status')), (await text('#status')) + (await text('#error')));
    // A pre-trained reduced model (`undivided pretrain`, published with --f16): its own plan is
    // the full model's, its weights travel as f16 (0.1 MB where f32 would be 0.2 MB).
    check('published pre-trained models are listed', published.includes('runs/tiny-pretrained'), published.join(', '));
    await loadModel('runs/tiny-pretrained');
    await encodeBoth();
    check('a published pre-trained reduced model loads as f16 and runs beside a further cut', /Loaded tiny-pretrained/.test(await text('#status')) && /full \(0\+norm\)/.test(await text('#stats')) &&
      /downloaded\s*0\.1 MB/.test(await text('#stats')) && /latency\s*[\d.]+ ms\s*[\d.]+ ms/.test(await text('#results')), `${await text('#status')} / ${await text('#stats')} / ${await text('#error')}`);
    // Back to the fine-tuned run, which the fine-tune below continues from.
    await loadModel('runs/tiny-sst2');

    // Rows from the datasets-server (faked here: the test machine is offline).
    await page.route('https://datasets-server.huggingface.co/**', (route) => {
      const u = new URL(route.request().url());
      const offset = +u.searchParams.get('offset'), length = +u.searchParams.get('length');
      const rows = Array.from({ length }, (_, i) => ({ row_idx: offset + i, row: { sentence: `row ${offset + i} was fine`, label: (offset + i) % 2, idx: offset + i } }));
      route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ rows }) });
    });
    await page.selectOption('#data-source', 'hub-sst2');
    await page.fill('#hub-rows', '8'); await page.fill('#train-steps', '1');
    await page.evaluate(() => { document.title = ''; });
    await page.click('#train');
    await page.waitForFunction(() => document.title.includes('trained') || document.getElementById('error').textContent, null, { timeout: 5 * MIN });
    await idle();
    const hub = await text('#train-detail');
    check('SST-2 rows from the datasets-server API', /on 8 sst2 examples \(SST-2 from the HuggingFace hub\)/.test(hub) && /dev accuracy \(2 examples\)/.test(await text('#train-results')), hub + (await text('#error')));

    // Bad input: each a visible, specific error; the page stays usable.
    await page.fill('#text-a', '   ');
    await page.click('#encode');
    await errorShown();
    check('empty sentence is a visible, specific error', /empty/.test(await text('#error')), await text('#error'));
    await page.fill('#text-a', 'word '.repeat(2000));
    await page.click('#encode');
    await page.waitForFunction(() => /characters/.test(document.getElementById('error').textContent), null, { timeout: MIN }).catch(() => {});
    check('a 10,000-character paste is refused', /10000 characters/.test(await text('#error')), await text('#error'));
    await page.selectOption('#data-source', 'file');
    await page.setInputFiles('#tsv-file', { name: 'bad.tsv', mimeType: 'text/tab-separated-values', buffer: Buffer.from('sentence\tlabel\nfine\t1\nno label here\n') });
    await page.click('#train');
    await page.waitForFunction(() => /bad\.tsv/.test(document.getElementById('error').textContent), null, { timeout: MIN }).catch(() => {});
    check('a TSV with a bad row names file and line', /bad\.tsv:3/.test(await text('#error')), await text('#error'));

    await page.route('**/corrupt/**', async (route) => {
      const name = route.request().url().split('/').pop();
      if (name === 'model.safetensors') return route.fulfill({ status: 200, body: Buffer.from('this is not a safetensors file at all') });
      const real = await page.request.get(url.replace(/index\.html.*$/, `models/all-MiniLM-L6-v2/${name}`));
      return route.fulfill({ status: real.status(), body: await real.body() });
    });
    await loadModel('corrupt');
    check('a corrupt checkpoint is a specific error', /model\.safetensors.*not a valid safetensors/.test(await text('#error')), await text('#error'));
    // A tokenizer with ids past the model's vocab_size: refused before any WebGPU work (on a
    // GPU, an id past the embeddings reads whatever memory lies there).
    await page.route('**/badvocab/**', async (route) => {
      const name = route.request().url().split('/').pop();
      if (name === 'vocab.txt') {
        const words = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
        for (let i = 0; words.length < 1200; i++) words.push(`tok${i}`);
        return route.fulfill({ status: 200, body: words.join('\n') });
      }
      if (name === 'tokenizer.json') return route.fulfill({ status: 404, body: 'not found' });
      const real = await page.request.get(url.replace(/index\.html.*$/, `test-models/tiny/${name}`));
      return route.fulfill({ status: real.status(), body: await real.body() });
    });
    await loadModel('badvocab');
    check('a tokenizer with ids past vocab_size is refused by name', /vocab\.txt.*id 1199.*vocab_size is 1000/.test(await text('#error')) && !/Loaded badvocab/.test(await text('#status')), (await text('#status')) + ' / ' + (await text('#error')));
    await loadModel('models/no-such-model');
    check('a wrong URL names the missing file', /no-such-model\/config\.json: not found/.test(await text('#error')), await text('#error'));
    check('no uncaught page errors', errors.length === 0, errors.join('; '));
  } catch (e) {
    check('page test ran to the end', false, String(e));
  } finally {
    // Here, not after the block: the hosted run returns early from the try.
    await ctx.close();
    console.log(`page${hosted ? ' (hosted)' : ''}: ${passed} passed, ${failed} failed`);
    process.exit(failed || !passed ? 1 : 0);
  }
})();
