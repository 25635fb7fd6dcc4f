// End-to-end test of the served page in Debian's headless Chromium with WebGPU
// (--enable-unsafe-webgpu; SwiftShader). Usage: node tests/e2e/page.js URL SCREENSHOT.png
// Loads the default model, checks the adapter status and per-layer toggles, encodes a sentence
// pair with the full and the reduced model, checks the result table, then an empty sentence must
// show a specific error. Prints "N passed, M failed" and exits non-zero on failure.
const { chromium } = require('playwright-core');
const fs = require('fs'), os = require('os'), path = require('path');

const url = process.argv[2], shot = process.argv[3] || 'page.png';
let passed = 0, failed = 0;
function check(name, ok, detail = '') {
  if (ok) { passed++; console.log(`ok   ${name}`); } else { failed++; console.log(`FAIL ${name} ${detail}`); }
}

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
  try {
    await page.goto(url);
    await page.waitForFunction(() => !document.getElementById('encode').disabled || document.getElementById('error').textContent,
      null, { timeout: 240000 });
    const status = await page.textContent('#status');
    check('model loads on WebGPU', /Loaded on .*Wgpu/.test(status), `status: ${status} error: ${await page.textContent('#error')}`);
    check('one toggle per layer', (await page.$$('#layers input')).length === 6);
    check('parameter table', /22,713,216/.test(await page.textContent('#stats')));

    await page.click('#encode');
    await page.waitForFunction(() => document.title.includes('encoded') || document.getElementById('error').textContent,
      null, { timeout: 240000 });
    const results = (await page.textContent('#results')).replace(/\s+/g, ' ');
    check('both models encode', /latency\s*[\d.]+ ms\s*[\d.]+ ms/.test(results), results);
    const cos = parseFloat((results.match(/of \[CLS\]\s*([-\d.]+)/) || [])[1]);
    check('reduced differs from full but stays related', cos > 0.3 && cos < 0.9999, `cosine ${cos}`);
    await page.screenshot({ path: shot, fullPage: true });

    await page.fill('#text-a', '   ');
    await page.click('#encode');
    await page.waitForFunction(() => document.getElementById('error').textContent, null, { timeout: 60000 });
    check('empty sentence is a visible, specific error', /empty/.test(await page.textContent('#error')), await page.textContent('#error'));
    check('no uncaught page errors', errors.length === 0, errors.join('; '));
  } catch (e) {
    check('page test ran to the end', false, String(e));
  } finally {
    await ctx.close();
  }
  console.log(`page: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
