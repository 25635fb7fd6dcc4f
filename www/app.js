// Glue only: the page's DOM. Every piece of model work (loading, inference, the benchmark,
// healing, fine-tuning, CKA, probes) runs in a Web Worker (www/worker.js → src/web/worker.rs):
// the page sends it typed requests and draws what comes back, so it never freezes and Stop
// answers at once. Charts and the committed results are read and drawn by the page's own copy
// of the wasm module (src/web/chart.rs, src/web/findings.rs).
const $ = (id) => document.getElementById(id);
let wasm = null, info = null, stopRequested = false;
// The last quick fine-tune in this page, shown beside the native results.
let browserRows = [];
// What the header band shows once measured: the last latency and quick fine-tune, per plan.
const glance = { latency: null, accuracy: null };

const setStatus = (text) => { $("status").textContent = text; };
const showError = (e) => { $("error").textContent = String(e && e.message ? e.message : e); };
const clearError = () => { $("error").textContent = ""; };
const fmt = (n) => n.toLocaleString("en-US");
const ms = (x) => `${x.toFixed(1)} ms`;
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
// Lets the browser paint (a status line, a disabled button) before the next request.
const nextFrame = () => new Promise((r) => setTimeout(r, 0));

// --- The model worker: one request, one reply; progress messages in between.
let modelWorker = null, nextId = 0;
// On the CPU path, more workers with a copy of the model each: the benchmark splits its batch
// over them, one share per core, as the native trainer splits a batch over threads (wasm threads
// need nightly Rust and a cross-origin isolated host; workers need neither). One sentence, which
// has no rows to split, they share by heads and columns where the page is cross-origin isolated
// (askShared).
let helpers = [];
const pending = new Map();

function failAll(message) {
  for (const p of pending.values()) p.reject(new Error(message));
  pending.clear();
}

function post(message, progress, worker = modelWorker) {
  const id = ++nextId;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, progress });
    worker.postMessage({ id, ...message });
  });
}

// Asks the worker for `op` (a `Request` of src/web/worker.rs) and resolves to its reply.
const ask = (op, args = {}, progress) => post({ request: { op, ...args } }, progress);
const askOn = (worker, op, args = {}) => post({ request: { op, ...args } }, undefined, worker);

function spawnWorker() {
  const w = new Worker(new URL("worker.js", document.baseURI), { type: "module" });
  w.onmessage = (event) => {
    const m = event.data, p = pending.get(m.id);
    if (!p) return;
    if (m.progress) { p.progress?.(m.progress); return; }
    pending.delete(m.id);
    if (m.ok) p.resolve(m.result); else p.reject(new Error(m.error));
  };
  w.onerror = (event) => failAll(`the model worker stopped: ${event.message || "it could not start"}`);
  return w;
}

// Starts the worker, which compiles the wasm module off this thread and sends it back compiled:
// this page instantiates the same module for its charts and file readers without decoding the
// module here (a 15–42 MB module decoded on the page's thread was a 140–270 ms task).
async function startWorker() {
  const named = window.undividedModule; // written into index.html by Trunk.toml's pattern_script
  if (!named) throw new Error("index.html names no wasm module (build the page with trunk)");
  modelWorker = spawnWorker();
  const module = await post({ init: named });
  wasm = await import(named.js);
  await wasm.default({ module_or_path: module });
}

// The CPU path's workers: `?threads=N`, else ONNX Runtime Web's default (half the cores, at most 4).
function cpuWorkers() {
  const asked = parseInt(new URLSearchParams(location.search).get("threads"), 10);
  return Math.max(1, Math.min(16, asked > 0 ? asked : Math.min(4, Math.ceil((navigator.hardwareConcurrency || 2) / 2))));
}

// One request served by every CPU worker at once: each computes its share of every layer's
// attention heads and intermediate columns, and they add up their parts through one
// SharedArrayBuffer (src/web/share.rs, src/model/ops/share.rs). It needs a cross-origin isolated page (COOP +
// COEP headers), and helpers holding the same model: not the healed one, which only the model
// worker has. Otherwise the model worker alone answers. The model worker's reply is the answer.
async function askShared(op, args) {
  const workers = sharingWorkers();
  if (workers.length < 2) return ask(op, args);
  const buffer = wasm.share_buffer(workers.length, info.hidden_size);
  const replies = await Promise.all(workers.map((w, part) => post({ request: { op, ...args }, shared: { buffer, part, parts: workers.length } }, undefined, w)));
  return replies[0];
}

// The workers that can share a pass now (just the model worker when they cannot).
function sharingWorkers() {
  const all = [modelWorker, ...helpers];
  return all.length > 1 && self.crossOriginIsolated && !info.healed_plan ? all : [modelWorker];
}

// Gives every helper worker the loaded model (CPU path), or stops them (WebGPU: one device).
async function loadHelpers(source, cpu) {
  const want = cpu ? cpuWorkers() - 1 : 0;
  while (helpers.length > want) helpers.pop().terminate();
  while (helpers.length < want) {
    const w = spawnWorker();
    await post({ init: window.undividedModule }, undefined, w);
    helpers.push(w);
  }
  // The checkpoint comes from the browser cache the first worker just filled.
  await Promise.all(helpers.map((w) => askOn(w, "load", { source, cpu: true })));
}

function plan() {
  const kept = [...document.querySelectorAll("#layers input[data-layer]:checked")].map((c) => c.dataset.layer);
  if (kept.length === info.num_layers) return "all";
  // `+norm`: the removed blocks leave their output.LayerNorm behind (FfnPlan in src/model/plan.rs).
  return (kept.length === 0 ? "none" : kept.join(",")) + ($("keep-norm")?.checked ? "+norm" : "");
}

function setBusy(on) {
  for (const id of ["encode", "bench", "train", "heal", "cka", "probe", "load"]) $(id).disabled = on || (id !== "load" && !info);
  $("stop").disabled = !on;
}

// The header band: full vs reduced at a glance — sizes and FLOPs at once, latency and accuracy
// once this page has measured them for the current plan.
async function renderStats() {
  if (!info) return;
  const p = plan();
  const { full, reduced: red } = await ask("stats", { plan: p, seq_len: 128 });
  if (p !== plan()) return; // the plan changed meanwhile; its own call draws it
  const row = (name, f, r) => `<tr><td>${name}</td><td>${f}</td><td>${r}</td></tr>`;
  const lat = glance.latency && glance.latency.plan === p ? glance.latency : null;
  const acc = glance.accuracy && glance.accuracy.plan === p ? glance.accuracy : null;
  $("stats").innerHTML = `<tr><th></th><th class="full">full (${full.plan})</th><th class="reduced">reduced (${esc(red.plan)})</th></tr>` +
    row("parameters", fmt(full.total_params), `${fmt(red.total_params)} (${pct(red.total_params / full.total_params)})`) +
    row("weights (f32 / f16)", `${(full.weight_bytes / 1e6).toFixed(1)} / ${(full.weight_bytes / 2e6).toFixed(1)} MB`, `${(red.weight_bytes / 1e6).toFixed(1)} / ${(red.weight_bytes / 2e6).toFixed(1)} MB`) +
    row("downloaded", `${(info.download_bytes / 1e6).toFixed(1)} MB`, "cut from the full model in the page") +
    row("FLOPs / token at 128 tokens", `${(full.flops_per_token / 1e6).toFixed(1)} M`, `${(red.flops_per_token / 1e6).toFixed(1)} M (${pct(red.flops_per_token / full.flops_per_token)})`) +
    row("latency, one input (last run)", lat ? ms(lat.full) : "run both models", lat ? `${ms(lat.reduced)} (${(lat.full / lat.reduced).toFixed(2)}× faster)` : "–") +
    row(acc ? `dev ${acc.metric} (quick fine-tune)` : "accuracy", acc ? acc.full.toFixed(3) : "fine-tune both", acc ? `${acc.reduced.toFixed(3)} (${(100 * (acc.reduced - acc.full)).toFixed(1)} points)` : "–");
  $("use-healed").checked = false;
  $("use-healed").disabled = info.healed_plan !== p;
}

// Runs one long action with the buttons disabled, showing its error in the page; `cleanup`
// (hiding a progress bar, freeing trainers) runs whether it succeeded or not.
async function busyAction(action, cleanup = () => {}) {
  clearError();
  setBusy(true);
  await nextFrame();
  try {
    await action();
  } catch (e) {
    showError(e);
  } finally {
    cleanup();
    setBusy(false);
  }
}

async function load() {
  clearError();
  setBusy(true);
  $("load-progress").hidden = false;
  $("load-progress").removeAttribute("value");
  const cpu = $("use-cpu").checked, source = $("model-url").value;
  setStatus(`Loading ${source} on ${cpu ? "the CPU backend (wasm)" : "WebGPU"}…`);
  try {
    info = null;
    const progress = ({ file, done, total }) => {
      if (total > 0) { $("load-progress").max = total; $("load-progress").value = done; }
      $("load-detail").textContent = `${file}: ${(done / 1e6).toFixed(1)}${total > 0 ? ` / ${(total / 1e6).toFixed(1)}` : ""} MB`;
    };
    info = await ask("load", { source, cpu }, progress);
    await loadHelpers(source, cpu);
    glance.latency = glance.accuracy = null;
    const layers = $("layers");
    layers.innerHTML = "Intermediate block kept in layer: ";
    for (let i = 0; i < info.num_layers; i++) {
      const keep = i === 0 || i === info.num_layers - 1;
      layers.insertAdjacentHTML("beforeend", `<label><input type="checkbox" data-layer="${i}" ${keep ? "checked" : ""}/> ${i}</label>`);
    }
    layers.insertAdjacentHTML("beforeend", `<label class="inline" title="A removed block's two dense layers go; its output.LayerNorm stays, so the next layer reads features on the scale it was trained on"><input type="checkbox" id="keep-norm" /> removed blocks keep their LayerNorm (<code>+norm</code>)</label>`);
    layers.querySelectorAll("input").forEach((c) => c.addEventListener("change", () => renderStats().catch(showError)));
    await renderStats();
    $("load-detail").textContent = `${info.from_cache ? "from the browser cache" : "downloaded"}, ready in ${(info.load_ms / 1000).toFixed(1)} s`;
    const on = info.device_name === "WebGPU" && adapterName ? `WebGPU (${adapterName})` : info.device_name;
    const shares = sharingWorkers().length > 1 ? ", sharing each sentence" : helpers.length ? "; one sentence on one: the page is not cross-origin isolated" : "";
    const workers = cpu && helpers.length ? ` (${helpers.length + 1} workers${shares})` : "";
    setStatus(`Loaded ${info.name} on ${on}${workers}${info.is_classifier ? " (a fine-tuned classifier)" : ""}.`);
  } catch (e) {
    setStatus("Loading failed.");
    showError(e);
  } finally {
    $("load-progress").hidden = true;
    setBusy(false);
  }
}

async function runBoth() {
  await busyAction(async () => {
    const a = $("text-a").value, b = $("text-b").value || null, p = plan();
    let rows, f, r;
    if (info.is_classifier) {
      ({ full: f, reduced: r } = await askShared("classify", { plan: p, text: a, text_b: b }));
      rows = f.labels.map((l, i) => `<tr><td>P(${esc(l)})</td><td>${pct(f.probabilities[i])}</td><td>${pct(r.probabilities[i])}</td></tr>`).join("") +
        `<tr><td>latency</td><td>${ms(f.ms)}</td><td>${ms(r.ms)}</td></tr>`;
    } else {
      const both = await askShared("encode", { plan: p, text: a, text_b: b });
      ({ full: f, reduced: r } = both);
      rows = `<tr><td>tokens</td><td>${f.tokens}</td><td>${r.tokens}</td></tr><tr><td>latency</td><td>${ms(f.ms)}</td><td>${ms(r.ms)}</td></tr>` +
        `<tr><td>cosine(full, reduced) of [CLS]</td><td colspan="2">${both.cls_cosine.toFixed(4)}</td></tr>`;
      if (b) {
        const { full: fs, reduced: rs } = await askShared("similarity", { plan: p, text: a, text_b: b });
        rows += `<tr><td>similarity of the two sentences</td><td>${fs.cosine.toFixed(4)}</td><td>${rs.cosine.toFixed(4)}</td></tr>`;
      }
    }
    $("results").innerHTML = `<tr><th></th><th class="full">full</th><th class="reduced">reduced (${esc(p)})</th></tr>${rows}`;
    glance.latency = { plan: p, full: f.ms, reduced: r.ms };
    await renderStats();
    setStatus("Both models ran.");
    document.title = "Undivided — encoded";
  });
}

async function bench() {
  $("bench-progress").hidden = false;
  await busyAction(async () => {
    const n = +$("bench-batch").value, len = +$("bench-len").value, it = +$("bench-iters").value, p = plan();
    setStatus(`Benchmarking the full model, then the reduced one (${p}): ${n} × ${len} tokens, ${it} batches after a warm-up…`);
    const { full: f, reduced: r } = await benchSplit({ plan: p, batch_size: n, seq_len: len, iters: it });
    window.benchReply = { full: f, reduced: r }; // read by scripts/bench_browser.js
    const row = (name, a, b) => `<tr><td>${name}</td><td>${a}</td><td>${b}</td></tr>`;
    $("bench-results").innerHTML = `<tr><th></th><th class="full">full</th><th class="reduced">reduced (${esc(p)})</th></tr>` +
      row("sentences / s", f.sentences_per_s.toFixed(1), r.sentences_per_s.toFixed(1)) +
      row("ms / sentence", f.ms_per_sentence.toFixed(2), r.ms_per_sentence.toFixed(2)) +
      row("ms / batch", f.ms_per_batch.toFixed(1), r.ms_per_batch.toFixed(1)) +
      row("start-up (first batch: on WebGPU, kernel compilation)", ms(f.first_ms), ms(r.first_ms)) +
      (f.launches && r.launches ? row("GPU kernel launches per forward pass", fmt(f.launches.total), fmt(r.launches.total)) : "") +
      (f.workers ? row("CPU workers sharing the batch", f.workers, r.workers) : "");
    $("bench-chart").hidden = false;
    wasm.draw_bars("bench-chart", `Throughput, ${n} × ${len} tokens`, "sentences / s", ["full", `reduced (${p})`], [f.sentences_per_s, r.sentences_per_s]);
    setStatus(`Benchmark done: reduced model ${(r.sentences_per_s / f.sentences_per_s).toFixed(2)}× the full model's speed.`);
  }, () => { $("bench-progress").hidden = true; });
}

// The benchmark, its batch split over the CPU path's workers when there are several: they run
// their shares at once, so a batch takes as long as the slowest share. A batch smaller than the
// workers they share by heads and columns instead, where they can.
async function benchSplit(args) {
  if (args.batch_size < 1 + helpers.length && sharingWorkers().length > 1) {
    const both = await askShared("bench", args);
    for (const r of [both.full, both.reduced]) r.workers = `${sharingWorkers().length}, splitting each layer's heads and columns`;
    return both;
  }
  const workers = [modelWorker, ...helpers].slice(0, args.batch_size);
  if (workers.length === 1) return ask("bench", args);
  const shares = workers.map((_, i) => Math.floor(args.batch_size / workers.length) + (i < args.batch_size % workers.length ? 1 : 0));
  const replies = await Promise.all(workers.map((w, i) => askOn(w, "bench", { ...args, batch_size: shares[i] })));
  const joined = (k) => {
    const parts = replies.map((r) => r[k]), ms = Math.max(...parts.map((b) => b.ms_per_batch));
    return { ...parts[0], batch_size: args.batch_size, workers: parts.length, first_ms: Math.max(...parts.map((b) => b.first_ms)), ms_per_batch: ms,
      sentences_per_s: args.batch_size * 1e3 / ms, ms_per_sentence: ms / args.batch_size };
  };
  return { full: joined("full"), reduced: joined("reduced") };
}

// The chosen labelled rows, as the worker's `DataSource`: the worker reads or fetches them.
async function trainingData() {
  const source = $("data-source").value;
  if (source === "sample") return { kind: "sample" };
  if (source === "file") {
    const file = $("tsv-file").files[0];
    if (!file) throw new Error("choose a TSV file first (or pick the built-in sample)");
    return { kind: "tsv", task: $("tsv-task").value, name: file.name, text: await file.text() };
  }
  return { kind: "hub", task: source === "hub-rte" ? "rte" : "sst2", rows: +$("hub-rows").value };
}

function settings(prefix) {
  const lr = parseFloat($(`${prefix}-lr`).value);
  if (!(lr > 0)) throw new Error(`learning rate "${$(`${prefix}-lr`).value}": expected a positive number such as 5e-5`);
  return { steps: +$(`${prefix}-steps`).value, batch_size: +$("train-batch").value, max_len: +$("train-len").value, lr, seed: 42 };
}

async function heal() {
  stopRequested = false;
  await busyAction(async () => {
    const data = await trainingData(), p = plan();
    setStatus(`Preparing to heal the reduced model (${p}): building student and teacher…`);
    await ask("heal_start", { plan: p, data, settings: settings("heal") });
    const points = [];
    $("heal-chart").hidden = false;
    while (!stopRequested) {
      const { point: pt, done } = await ask("heal_step");
      points.push(pt);
      setStatus(`Healing the reduced model (${p}): step ${pt.step}, distillation loss ${pt.loss.toFixed(4)} (${ms(pt.ms)} / step)`);
      wasm.draw_lines("heal-chart", `Healing the reduced model (${p}) against the full one`, "step", "loss", [
        { name: "total", points: points.map((q) => [q.step, q.loss]) },
        { name: "hidden-state MSE", points: points.map((q) => [q.step, q.hidden_mse]) },
        { name: "attention KL", points: points.map((q) => [q.step, q.attention_kl]) }]);
      $("heal-chart").dataset.points = points.length;
      if (done) break;
    }
    info = await ask("heal_adopt");
    $("use-healed").disabled = false;
    $("use-healed").checked = true;
    setStatus(`Healed the reduced model (${p}) for ${points.length} steps; fine-tuning will start from it.`);
  });
}

async function train() {
  stopRequested = false;
  await busyAction(async () => {
    const data = await trainingData(), s = settings("train"), p = plan();
    const healed = $("use-healed").checked;
    setStatus("Preparing both models for fine-tuning…");
    const started = await ask("train_start", { plan: p, data, settings: s, healed }), sum = started.data;
    const names = ["full", `reduced (${p})${healed ? ", healed" : ""}`];
    const curves = [[], []];
    $("loss-chart").hidden = false;
    $("loss-chart").dataset.points = 0;
    $("train-progress").hidden = false;
    $("train-progress").max = s.steps;
    $("train-progress").value = 0;
    while (!stopRequested) {
      const r = await ask("train_step");
      r.losses.forEach((loss, i) => curves[i].push([r.step, loss]));
      $("train-progress").value = r.step;
      $("train-detail").textContent = `step ${r.step} / ${s.steps} on ${sum.train} ${sum.task} examples (${sum.source})`;
      wasm.draw_lines("loss-chart", `Training loss, ${sum.task}`, "step", "cross-entropy", names.map((n, i) => ({ name: n, points: curves[i] })));
      $("loss-chart").dataset.points = curves[0].length + curves[1].length;
      if (r.done) break;
    }
    const stopped = stopRequested;
    setStatus("Evaluating both models on the dev rows…");
    const ev = await ask("train_evaluate"), evals = ev.evals;
    const metric = Object.keys(evals[0].metrics)[0];
    const row = (name, a, b) => `<tr><td>${name}</td><td>${a}</td><td>${b}</td></tr>`;
    $("train-results").innerHTML = `<tr><th></th><th class="full">${names[0]}</th><th class="reduced">${esc(names[1])}</th></tr>` +
      Object.keys(evals[0].metrics).map((k) => row(`dev ${k} (${evals[0].examples} examples)`, evals[0].metrics[k].toFixed(4), evals[1].metrics[k].toFixed(4))).join("") +
      row("steps", ev.steps_done[0], ev.steps_done[1]) +
      row("time per step (after the first)", ms(ev.ms_per_step[0]), ms(ev.ms_per_step[1]));
    browserRows = started.plans.map((plan, i) => ({ source: "this page", plan, variant: names[i], metric,
      value: evals[i].metrics[metric], steps: ev.steps_done[i], ms_per_step: ev.ms_per_step[i] }));
    glance.accuracy = { plan: p, metric, full: evals[0].metrics[metric], reduced: evals[1].metrics[metric] };
    $("findings-yours").textContent = `Your quick fine-tune in this page (${ev.steps_done[0]} steps on ${sum.train} ${sum.task} examples): ` +
      `dev ${metric} ${evals[0].metrics[metric].toFixed(3)} full vs ${evals[1].metrics[metric].toFixed(3)} reduced (${p}), ` +
      `${(100 * (evals[1].metrics[metric] - evals[0].metrics[metric])).toFixed(1)} points.`;
    await renderStats();
    setStatus(`${stopped ? `Stopped after step ${ev.steps_done[0]}` : "Fine-tuned"}: dev ${metric} ${evals[0].metrics[metric].toFixed(3)} (full) vs ${evals[1].metrics[metric].toFixed(3)} (reduced).`);
    document.title = stopped ? "Undivided — stopped" : "Undivided — trained";
  }, () => {
    ask("train_end").catch(() => {});
    $("train-progress").hidden = true;
  });
}

async function cka() {
  await busyAction(async () => {
    const data = await trainingData(), p = plan(), n = +$("cka-n").value;
    setStatus(`Computing CKA between the full and the reduced (${p}) model on ${n} sentences…`);
    const r = await ask("cka", { plan: p, data, max_sentences: n, debiased: $("cka-debiased").checked });
    const names = r.diagonal.map((_, i) => (i === 0 ? "embeddings" : `layer ${i}`));
    $("cka-results").innerHTML = `<tr><th>full vs reduced (${esc(p)}), same layer</th>${names.map((n) => `<th>${n}</th>`).join("")}</tr>` +
      `<tr><td>${r.kind} CKA, ${r.sentences} sentences</td>${r.diagonal.map((v) => `<td>${v.toFixed(3)}</td>`).join("")}</tr>`;
    $("cka-chart").hidden = false;
    wasm.draw_heatmap("cka-chart", `${r.kind} CKA: full (rows) vs reduced ${p} (columns)`, "full model layer", `reduced model layer (${p})`, r.matrix);
    setStatus(`CKA computed in ${(r.ms / 1000).toFixed(1)} s.`);
  });
}

async function probe() {
  await busyAction(async () => {
    const data = await trainingData(), p = plan(), n = +$("probe-n").value, steps = +$("probe-steps").value;
    setStatus(`Training a linear probe on every layer of both models (${steps} steps each)…`);
    const r = await ask("probe", { plan: p, data, max_train: n, steps });
    const names = r.full.map((_, i) => (i === 0 ? "embeddings" : `layer ${i}`));
    const row = (name, acc) => `<tr><td>${name}</td>${acc.map((v) => `<td>${pct(v)}</td>`).join("")}</tr>`;
    $("probe-results").innerHTML = `<tr><th>dev accuracy (${r.dev_examples} examples; probes on ${r.train_examples})</th>${names.map((n) => `<th>${n}</th>`).join("")}</tr>` +
      row(`full (${info.own_plan})`, r.full) + row(`reduced (${esc(p)})`, r.reduced);
    const series = [{ name: `full (${info.own_plan})`, points: r.full.map((v, i) => [i, 100 * v]) },
      { name: `reduced (${p})`, points: r.reduced.map((v, i) => [i, 100 * v]) }];
    $("probe-chart").hidden = false;
    $("probe-chart").dataset.points = String(r.full.length + r.reduced.length);
    wasm.draw_lines("probe-chart", "Linear probe dev accuracy per layer", "hidden state (0 = embeddings)", "accuracy (%)", series);
    setStatus(`Probes trained in ${(r.ms / 1000).toFixed(1)} s.`);
  });
}

// The studies this project committed (docs/results/, served as results/): the first one opens
// the page, so a visitor sees the answer before running anything.
let findings = [];

async function showFindings() {
  try {
    const r = await fetch("results/index.json", { cache: "no-cache" });
    if (!r.ok || !(r.headers.get("content-type") || "").includes("json")) throw new Error(`results/index.json: HTTP ${r.status}`);
    findings = wasm.findings_index("results/index.json", await r.text()).studies;
    $("findings-list").innerHTML = findings.map((s, i) => `<option value="${i}">${esc(s.path.replace(/\/study\.json$/, ""))}</option>`).join("");
    if (findings.length) await showStudy(0);
  } catch (e) {
    $("findings-note").textContent = `The committed results could not be read (${e.message || e}).`;
  }
}

// A pre-training budget in words: 1M, 512k.
const tokens = (n) => (n >= 1e6 ? `${+(n / 1e6).toFixed(3)}M` : n >= 1e3 ? `${+(n / 1e3).toFixed(3)}k` : `${n}`);

async function showStudy(i) {
  const entry = findings[i], url = `results/${entry.path}`;
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  const body = await r.text(), study = wasm.study_findings(url, body);
  $("findings-note").textContent = `${study.title}. ${entry.note}`;
  const pts = (x) => (x == null ? "–" : `${x >= 0 ? "+" : ""}${x.toFixed(2)}`);
  // The reference trainer's run of the full model's recipe, where the study has one.
  const refLine = (t) => t.reference ? `<li class="reference">${esc(t.task)}: the full model here ${pts(t.reference.full_delta_points)} points vs ${esc(t.reference.trainer)} on the same recipe (${t.reference.seeds.length} seed${t.reference.seeds.length > 1 ? "s" : ""} there)</li>` : "";
  // How the rows were made, where the study says (a stale run replaced on the way).
  const notes = (study.notes || []).map((n) => `<li class="note">note: ${esc(n)}</li>`).join("");
  $("findings-answers").innerHTML = study.tasks.map((t) => `<li class="${/can go within one point/.test(t.answer) ? "good" : "bad"}">${esc(t.answer)}</li>${refLine(t)}`).join("") + notes;
  const refRow = (t) => t.reference ? `<tr><td></td><td class="full">full · ${esc(t.reference.trainer)}</td><td>${(100 * t.reference.best_mean).toFixed(2)} ± ${(100 * t.reference.best_std).toFixed(2)}</td>` +
    `<td>${(100 * t.reference.final_mean).toFixed(2)}</td><td>100%</td><td>100%</td><td>${(t.reference.train_seconds / 60).toFixed(1)} min</td></tr>` : "";
  const rows = study.tasks.flatMap((t) => [
    `<tr><td>${esc(t.task)} (${esc(t.metric)} ×100)</td><td class="full">full</td><td>${(100 * t.full.best_mean).toFixed(2)} ± ${(100 * t.full.best_std).toFixed(2)}</td>` +
      `<td>${t.full.final_mean == null ? "–" : (100 * t.full.final_mean).toFixed(2)}</td><td>100%</td><td>100%</td><td>${(t.full.cost_seconds / 60).toFixed(1)} min</td></tr>` + refRow(t),
    ...t.rows.map((row) => `<tr><td></td><td class="reduced">${esc(row.plan)} · ${esc(row.route)}${row.pretrain_tokens ? ` ${tokens(row.pretrain_tokens)} tokens` : ""}</td><td>${pts(row.delta_points)} ± ${(100 * row.best_std).toFixed(2)}</td>` +
      `<td>${pts(row.final_delta_points)}</td><td>${pct(row.params_ratio)}</td><td>${pct(row.flops_ratio)}</td><td>${row.cost_ratio.toFixed(2)}×</td></tr>`)]);
  $("findings-table").innerHTML = `<tr><th>task</th><th>model</th><th>best dev (full) / Δ points (reduced)</th><th>final dev / Δ</th><th>parameters</th><th>FLOPs / token</th><th>training time (with healing or pre-training share)</th></tr>${rows.join("")}`;
  $("findings-chart").hidden = false;
  wasm.draw_study("findings-chart", url, body);
}

async function showNativeResults() {
  clearError();
  try {
    const file = $("results-file").files[0], url = $("results-url").value.trim();
    let name, body;
    if (file) { name = file.name; body = await file.text(); }
    else if (url) {
      const r = await fetch(url);
      if (!r.ok) throw new Error(`${url}: HTTP ${r.status} ${r.statusText}`);
      name = url; body = await r.text();
    } else throw new Error("choose a compare.json / results.json file or give its URL");
    const res = wasm.native_results(name, body);
    const label = (r) => r.plan === "all" ? "full" : `${r.plan} ${r.variant}`;
    const rows = res.rows.map((r) => `<tr><td>native</td><td>${esc(label(r))}</td><td>${pct(r.value)}${r.seeds > 1 ? ` ± ${pct(r.std)} (${r.seeds} seeds)` : ""}</td>` +
      `<td>${fmt(r.params)}</td><td>${(r.train_seconds / 60).toFixed(1)} min${r.heal_seconds != null ? ` + ${(r.heal_seconds / 60).toFixed(1)} min healing` : ""}</td><td>${r.examples_per_second.toFixed(1)} ex/s</td></tr>`).join("") +
      browserRows.map((r) => `<tr><td>this page</td><td>${esc(r.variant)}</td><td>${pct(r.value)}</td><td></td><td>${r.steps} steps</td><td>${ms(r.ms_per_step)} / step</td></tr>`).join("");
    $("native-results").innerHTML = `<caption>${esc(res.title)}</caption><tr><th>where</th><th>model</th><th>dev ${esc(res.rows[0].metric)}</th><th>parameters</th><th>training</th><th>throughput</th></tr>${rows}`;
    $("native-chart").hidden = false;
    wasm.draw_bars("native-chart", `Dev ${res.rows[0].metric} (%), native runs`, "%", res.rows.map(label), res.rows.map((r) => 100 * r.value));
    setStatus(`Showing ${res.rows.length} native result row(s) from ${name}.`);
  } catch (e) {
    showError(e);
  }
}

// Native runs published beside the page (`undivided publish` writes runs/index.json): their
// checkpoints join the model list, their result files the native results list.
async function loadRunIndex() {
  try {
    const r = await fetch("runs/index.json", { cache: "no-cache" });
    // A dev server answers unknown paths with the page itself: only JSON counts as an index.
    if (!r.ok || !(r.headers.get("content-type") || "").includes("json")) {
      $("runs-index").textContent = "No native runs are published beside this page (undivided publish RUN_DIR, then rebuild).";
      return;
    }
    const index = wasm.run_index("runs/index.json", await r.text());
    for (const c of index.checkpoints) {
      const what = c.kind === "fine-tuned" ? `${c.task} ${c.metric} ${pct(c.value)}` : c.kind;
      $("model-list").insertAdjacentHTML("beforeend", `<option value="runs/${esc(c.path)}">native run, plan ${esc(c.plan)}: ${esc(what)}, ${fmt(c.params)} parameters</option>`);
    }
    for (const t of index.results) $("results-list").insertAdjacentHTML("beforeend", `<option value="runs/${esc(t.path)}">${esc(t.title)}</option>`);
    $("runs-index").textContent = `${index.checkpoints.length} native checkpoint(s) published beside this page (runs/… in the checkpoint list); ${index.results.length} result file(s) in section 5.`;
  } catch (e) {
    showError(e);
  }
}

// The adapter in a few words for the status line ("google · swiftshader, software").
let adapterName = "";

// The WebGPU adapter the browser grants: a line describing it, and whether it is a software
// fallback (`isFallbackAdapter`: SwiftShader, WARP, lavapipe), where the CPU path is faster.
async function adapterInfo() {
  if (!navigator.gpu) return null;
  try {
    const a = await navigator.gpu.requestAdapter();
    if (!a) return null;
    const i = a.info || {};
    const fallback = !!(i.isFallbackAdapter ?? a.isFallbackAdapter);
    adapterName = [[i.vendor, i.architecture].filter(Boolean).join(" · ") || "unnamed adapter", fallback ? "software" : ""].filter(Boolean).join(", ");
    const line = `WebGPU adapter: ${[i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(" · ") || "unnamed"}; ` +
      `max buffer ${(a.limits.maxBufferSize / 2 ** 20).toFixed(0)} MiB, max storage binding ${(a.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB` +
      `${fallback ? " (software fallback)" : ""}`;
    return { line, fallback };
  } catch (e) {
    return null;
  }
}

// Where the model runs: WebGPU on a hardware adapter; the CPU path (wasm SIMD) without WebGPU or
// on a software fallback adapter, where it is 10–100× faster than WebGPU emulated on the same CPU
// (docs/benchmarks.md). `?device=webgpu` or `?device=cpu` in the address overrides the choice.
async function choosePath() {
  const asked = new URLSearchParams(location.search).get("device");
  const adapter = await adapterInfo();
  let cpu, why;
  if (!adapter) {
    cpu = true;
    why = navigator.gpu
      ? "WebGPU is present but no adapter was granted (blocklisted GPU or driver). Using the CPU path (wasm) instead."
      : "This browser has no WebGPU (navigator.gpu is missing): use Chrome/Edge 113+ or enable it (chrome://flags/#enable-unsafe-webgpu, Firefox Nightly dom.webgpu.enabled). Using the CPU path (wasm) instead.";
  } else if (asked === "cpu" || asked === "webgpu") {
    cpu = asked === "cpu";
    why = `${adapter.line}. Running on ${cpu ? "the CPU path" : "WebGPU"}, as the address asks (?device=${asked}).`;
  } else if (adapter.fallback) {
    cpu = true;
    why = `${adapter.line}. A software adapter runs WebGPU on the CPU, slower than the CPU path itself: using the CPU path (wasm SIMD). Untick "CPU backend" and load again to use WebGPU anyway.`;
  } else {
    cpu = false;
    why = adapter.line;
  }
  $("adapter").textContent = why;
  $("use-cpu").checked = cpu;
}

async function start() {
  await choosePath();
  $("load").addEventListener("click", load);
  $("encode").addEventListener("click", runBoth);
  $("bench").addEventListener("click", bench);
  $("heal").addEventListener("click", heal);
  $("train").addEventListener("click", train);
  $("stop").addEventListener("click", () => { stopRequested = true; setStatus("Stopping after the current step…"); });
  $("results-load").addEventListener("click", showNativeResults);
  $("results-list").addEventListener("change", () => {
    if (!$("results-list").value) return;
    $("results-file").value = "";
    $("results-url").value = $("results-list").value;
    showNativeResults();
  });
  $("cka").addEventListener("click", cka);
  $("probe").addEventListener("click", probe);
  $("clear-cache").addEventListener("click", () => ask("clear_cache").then(() => setStatus("Cleared the checkpoint cache."), showError));
  $("findings-list").addEventListener("change", () => showStudy(+$("findings-list").value).catch(showError));
  $("data-source").addEventListener("change", () => {
    $("file-row").hidden = $("data-source").value !== "file";
    $("hub-rows-row").hidden = !$("data-source").value.startsWith("hub");
  });
  try {
    await startWorker();
  } catch (e) {
    setStatus("The model worker could not start.");
    showError(e);
    return;
  }
  const shown = showFindings();
  await loadRunIndex();
  await load();
  await shown;
}
// A module script: it runs once the document is parsed.
start();
