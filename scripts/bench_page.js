// The page's figures in headless Chromium (WebGPU on whatever adapter the browser grants; here
// SwiftShader): bytes downloaded on a first visit, time to the first prediction of both models
// (first visit and after a cached reload) and the longest main-thread task during each phase,
// as the browser's `longtask` entries report it. Usage:
//   NODE_PATH=tools/node_modules node scripts/bench_page.js http://127.0.0.1:8080/index.html
// Works on any build of the page that has its #encode button and #status line.
const { chromium } = require('playwright-core');
const fs = require('fs'), os = require('os'), path = require('path');

(async () => {
  const url = process.argv[2];
  const udd = fs.mkdtempSync(path.join(os.tmpdir(), 'undivided-bench-'));
  const ctx = await chromium.launchPersistentContext(udd, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', ignoreDefaultArgs: true, viewport: { width: 1100, height: 900 },
    args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-dev-shm-usage', '--no-first-run', `--user-data-dir=${udd}`, '--remote-debugging-pipe', 'about:blank'],
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  await page.addInitScript(() => {
    window.longTasks = [];
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.longTasks.push(e.duration); }).observe({ type: 'longtask', buffered: true });
  });
  let bytes = 0;
  const count = async (r) => { try { bytes += (await r.sizes()).responseBodySize; } catch (_) { /* a cancelled request */ } };
  ctx.on('requestfinished', count);
  const longest = async () => Math.round(await page.evaluate(() => Math.max(0, ...window.longTasks)));
  const clear = () => page.evaluate(() => { window.longTasks = []; });
  const ready = () => page.waitForFunction(() => !document.getElementById('encode').disabled || document.getElementById('error').textContent, null, { timeout: 600000 });
  const predict = async () => {
    await page.evaluate(() => { document.title = ''; });
    const t = Date.now();
    await page.click('#encode');
    await page.waitForFunction(() => document.title.includes('encoded') || document.getElementById('error').textContent, null, { timeout: 600000 });
    return (Date.now() - t) / 1000;
  };
  const row = [];
  for (const visit of ['first visit', 'cached reload']) {
    const t0 = Date.now();
    if (visit === 'first visit') await page.goto(url); else { await page.reload(); }
    await ready();
    const loaded = (Date.now() - t0) / 1000, loadTask = await longest();
    await clear();
    const first = await predict();
    row.push({ visit, loaded_s: loaded, first_prediction_s: first, to_first_prediction_s: +(loaded + first).toFixed(1), longest_task_load_ms: loadTask, longest_task_predict_ms: await longest() });
    if (visit === 'first visit') row[0].downloaded_mb = +(bytes / 1e6).toFixed(1);
    await clear();
  }
  const err = await page.textContent('#error');
  if (err) console.log(`page error: ${err}`);
  for (const r of row) console.log(JSON.stringify(r));
  await ctx.close();
})();
