// Glue only: wiring buttons to the Rust/wasm bindings and writing their results into the page.
// Loading, tokenizing, both models' forward passes, training, healing and the charts run in Rust.
const $ = (id) => document.getElementById(id);
let wasm = null, model = null, stopRequested = false, busy = false;
// The last quick fine-tune in this page, shown beside the native results.
let browserRows = [];

const setStatus = (text) => { $("status").textContent = text; };
const showError = (e) => { $("error").textContent = String(e && e.message ? e.message : e); };
const clearError = () => { $("error").textContent = ""; };
const fmt = (n) => n.toLocaleString("en-US");
const ms = (x) => `${x.toFixed(1)} ms`;
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
// Lets the browser paint and finish dispatching the click before a long synchronous stretch
// of wasm work (building a model, the first step's kernel compilation).
const nextFrame = () => new Promise((r) => setTimeout(r, 0));

function plan() {
  const kept = [...document.querySelectorAll("#layers input[data-layer]:checked")].map((c) => c.dataset.layer);
  if (kept.length === model.num_layers) return "all";
  // `+norm`: the removed blocks leave their output.LayerNorm behind (FfnPlan in src/model/plan.rs).
  return (kept.length === 0 ? "none" : kept.join(",")) + ($("keep-norm")?.checked ? "+norm" : "");
}

function setBusy(on) {
  busy = on;
  for (const id of ["encode", "bench", "train", "heal", "cka", "probe", "load"]) $(id).disabled = on || (id !== "load" && !model);
  $("stop").disabled = !on;
}

function renderStats() {
  const full = model.stats(model.own_plan, 128), red = model.stats(plan(), 128);
  const row = (name, f, r) => `<tr><td>${name}</td><td>${f}</td><td>${r}</td></tr>`;
  $("stats").innerHTML = `<tr><th></th><th class="full">full (${full.plan})</th><th class="reduced">reduced (${red.plan})</th></tr>` +
    row("parameters", fmt(full.total_params), `${fmt(red.total_params)} (${pct(red.total_params / full.total_params)})`) +
    row("weights (f32 / f16)", `${(full.weight_bytes / 1e6).toFixed(1)} / ${(full.weight_bytes / 2e6).toFixed(1)} MB`, `${(red.weight_bytes / 1e6).toFixed(1)} / ${(red.weight_bytes / 2e6).toFixed(1)} MB`) +
    row("downloaded", `${(model.download_bytes / 1e6).toFixed(1)} MB`, "cut from the full model in the page") +
    row("FLOPs / token at 128 tokens", `${(full.flops_per_token / 1e6).toFixed(1)} M`, `${(red.flops_per_token / 1e6).toFixed(1)} M (${pct(red.flops_per_token / full.flops_per_token)})`);
  $("use-healed").checked = false;
  $("use-healed").disabled = model.healed_plan !== plan();
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
    model = null;
    const progress = (file, done, total) => {
      if (total > 0) { $("load-progress").max = total; $("load-progress").value = done; }
      $("load-detail").textContent = `${file}: ${(done / 1e6).toFixed(1)}${total > 0 ? ` / ${(total / 1e6).toFixed(1)}` : ""} MB`;
    };
    model = await wasm.WebModel.load(source, cpu, progress);
    const layers = $("layers");
    layers.innerHTML = "Intermediate block kept in layer: ";
    for (let i = 0; i < model.num_layers; i++) {
      const keep = i === 0 || i === model.num_layers - 1;
      layers.insertAdjacentHTML("beforeend", `<label><input type="checkbox" data-layer="${i}" ${keep ? "checked" : ""}/> ${i}</label>`);
    }
    layers.insertAdjacentHTML("beforeend", `<label class="inline" title="A removed block's two dense layers go; its output.LayerNorm stays, so the next layer reads features on the scale it was trained on"><input type="checkbox" id="keep-norm" /> removed blocks keep their LayerNorm (<code>+norm</code>)</label>`);
    layers.querySelectorAll("input").forEach((c) => c.addEventListener("change", renderStats));
    renderStats();
    $("load-detail").textContent = `${model.from_cache ? "from the browser cache" : "downloaded"}, ready in ${(model.load_ms / 1000).toFixed(1)} s`;
    const on = model.device_name === "WebGPU" && adapterName ? `WebGPU (${adapterName})` : model.device_name;
    setStatus(`Loaded ${model.name} on ${on}${model.is_classifier ? " (a fine-tuned classifier)" : ""}.`);
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
    let rows;
    if (model.is_classifier) {
      const f = await model.classify(model.own_plan, a, b), r = await model.classify(p, a, b);
      rows = f.labels.map((l, i) => `<tr><td>P(${esc(l)})</td><td>${pct(f.probabilities[i])}</td><td>${pct(r.probabilities[i])}</td></tr>`).join("") +
        `<tr><td>latency</td><td>${ms(f.ms)}</td><td>${ms(r.ms)}</td></tr>`;
    } else {
      const f = await model.encode(model.own_plan, a, b), r = await model.encode(p, a, b);
      rows = `<tr><td>tokens</td><td>${f.tokens}</td><td>${r.tokens}</td></tr><tr><td>latency</td><td>${ms(f.ms)}</td><td>${ms(r.ms)}</td></tr>` +
        `<tr><td>cosine(full, reduced) of [CLS]</td><td colspan="2">${cosine(f.cls, r.cls).toFixed(4)}</td></tr>`;
      if (b) {
        const fs = await model.similarity(model.own_plan, a, b), rs = await model.similarity(p, a, b);
        rows += `<tr><td>similarity of the two sentences</td><td>${fs.cosine.toFixed(4)}</td><td>${rs.cosine.toFixed(4)}</td></tr>`;
      }
    }
    $("results").innerHTML = `<tr><th></th><th class="full">full</th><th class="reduced">reduced (${p})</th></tr>${rows}`;
    setStatus("Both models ran.");
    document.title = "Undivided — encoded";
  });
}

function cosine(a, b) {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return d / Math.sqrt(na * nb);
}

async function bench() {
  $("bench-progress").hidden = false;
  await busyAction(async () => {
    const n = +$("bench-batch").value, len = +$("bench-len").value, it = +$("bench-iters").value, p = plan();
    setStatus(`Benchmarking the full model (${n} × ${len} tokens, ${it} batches after a warm-up)…`);
    const f = await model.bench(model.own_plan, n, len, it);
    setStatus(`Benchmarking the reduced model (${p})…`);
    const r = await model.bench(p, n, len, it);
    const row = (name, a, b) => `<tr><td>${name}</td><td>${a}</td><td>${b}</td></tr>`;
    $("bench-results").innerHTML = `<tr><th></th><th class="full">full</th><th class="reduced">reduced (${p})</th></tr>` +
      row("sentences / s", f.sentences_per_s.toFixed(1), r.sentences_per_s.toFixed(1)) +
      row("ms / sentence", f.ms_per_sentence.toFixed(2), r.ms_per_sentence.toFixed(2)) +
      row("ms / batch", f.ms_per_batch.toFixed(1), r.ms_per_batch.toFixed(1)) +
      row("start-up (first batch: shader compilation, autotune)", ms(f.first_ms), ms(r.first_ms));
    $("bench-chart").hidden = false;
    wasm.draw_bars("bench-chart", `Throughput, ${n} × ${len} tokens`, "sentences / s", ["full", `reduced (${p})`], [f.sentences_per_s, r.sentences_per_s]);
    setStatus(`Benchmark done: reduced model ${(r.sentences_per_s / f.sentences_per_s).toFixed(2)}× the full model's speed.`);
  }, () => { $("bench-progress").hidden = true; });
}

async function trainingData() {
  const source = $("data-source").value;
  if (source === "sample") return wasm.WebData.sample();
  if (source === "file") {
    const file = $("tsv-file").files[0];
    if (!file) throw new Error("choose a TSV file first (or pick the built-in sample)");
    return wasm.WebData.from_tsv($("tsv-task").value, file.name, await file.text());
  }
  setStatus("Fetching rows from the HuggingFace datasets-server…");
  return await wasm.WebData.from_hub(source === "hub-rte" ? "rte" : "sst2", +$("hub-rows").value);
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
    await nextFrame();
    const healer = model.heal(p, data, settings("heal"));
    const points = [];
    $("heal-chart").hidden = false;
    while (!healer.done && !stopRequested) {
      const pt = await healer.step();
      points.push(pt);
      setStatus(`Healing the reduced model (${p}): step ${pt.step}, distillation loss ${pt.loss.toFixed(4)} (${ms(pt.ms)} / step)`);
      wasm.draw_lines("heal-chart", `Healing the reduced model (${p}) against the full one`, "step", "loss", [
        { name: "total", points: points.map((q) => [q.step, q.loss]) },
        { name: "hidden-state MSE", points: points.map((q) => [q.step, q.hidden_mse]) },
        { name: "attention KL", points: points.map((q) => [q.step, q.attention_kl]) }]);
      $("heal-chart").dataset.points = points.length;
      await nextFrame();
    }
    await model.adopt_healed(healer);
    healer.free();
    $("use-healed").disabled = false;
    $("use-healed").checked = true;
    setStatus(`Healed the reduced model (${p}) for ${points.length} steps; fine-tuning will start from it.`);
  });
}

async function train() {
  stopRequested = false;
  const trainers = [];
  await busyAction(async () => {
    const data = await trainingData(), s = settings("train"), p = plan(), sum = data.summary();
    const healed = $("use-healed").checked;
    setStatus("Preparing both models for fine-tuning…");
    await nextFrame();
    trainers.push(model.quick_trainer(model.own_plan, data, s, false));
    trainers.push(model.quick_trainer(p, data, s, healed));
    const names = ["full", `reduced (${p})${healed ? ", healed" : ""}`];
    const curves = [[], []];
    $("loss-chart").hidden = false;
    $("train-progress").hidden = false;
    $("train-progress").max = s.steps;
    for (let step = 1; step <= s.steps && !stopRequested; step++) {
      for (let i = 0; i < 2 && !stopRequested; i++) {
        curves[i].push([step, await trainers[i].step()]);
      }
      $("train-progress").value = step;
      $("train-detail").textContent = `step ${step} / ${s.steps} on ${sum.train} ${sum.task} examples (${sum.source})`;
      wasm.draw_lines("loss-chart", `Training loss, ${sum.task}`, "step", "cross-entropy", names.map((n, i) => ({ name: n, points: curves[i] })));
      $("loss-chart").dataset.points = curves[0].length + curves[1].length;
      await nextFrame();
    }
    setStatus("Evaluating both models on the dev rows…");
    const evals = [];
    for (const t of trainers) evals.push(await t.evaluate());
    const metric = Object.keys(evals[0].metrics)[0];
    const row = (name, a, b) => `<tr><td>${name}</td><td>${a}</td><td>${b}</td></tr>`;
    $("train-results").innerHTML = `<tr><th></th><th class="full">${names[0]}</th><th class="reduced">${esc(names[1])}</th></tr>` +
      Object.keys(evals[0].metrics).map((k) => row(`dev ${k} (${evals[0].examples} examples)`, evals[0].metrics[k].toFixed(4), evals[1].metrics[k].toFixed(4))).join("") +
      row("steps", trainers[0].steps_done, trainers[1].steps_done) +
      row("time per step (after the first)", ms(trainers[0].ms_per_step), ms(trainers[1].ms_per_step));
    browserRows = trainers.map((t, i) => ({ source: "this page", plan: i ? t.plan : "all", variant: names[i], metric,
      value: evals[i].metrics[metric], steps: t.steps_done, ms_per_step: t.ms_per_step }));
    setStatus(`${stopRequested ? "Stopped" : "Fine-tuned"}: dev ${metric} ${evals[0].metrics[metric].toFixed(3)} (full) vs ${evals[1].metrics[metric].toFixed(3)} (reduced).`);
    document.title = "Undivided — trained";
  }, () => {
    trainers.forEach((t) => t.free());
    $("train-progress").hidden = true;
  });
}

async function cka() {
  await busyAction(async () => {
    const data = await trainingData(), p = plan(), n = +$("cka-n").value;
    setStatus(`Computing CKA between the full and the reduced (${p}) model on ${n} sentences…`);
    await nextFrame();
    const r = await model.cka(p, data, n, $("cka-debiased").checked);
    const names = r.diagonal.map((_, i) => (i === 0 ? "embeddings" : `layer ${i}`));
    $("cka-results").innerHTML = `<tr><th>full vs reduced (${p}), same layer</th>${names.map((n) => `<th>${n}</th>`).join("")}</tr>` +
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
    await nextFrame();
    const r = await model.probe(p, data, n, steps);
    const names = r.full.map((_, i) => (i === 0 ? "embeddings" : `layer ${i}`));
    const row = (name, acc) => `<tr><td>${name}</td>${acc.map((v) => `<td>${pct(v)}</td>`).join("")}</tr>`;
    $("probe-results").innerHTML = `<tr><th>dev accuracy (${r.dev_examples} examples; probes on ${r.train_examples})</th>${names.map((n) => `<th>${n}</th>`).join("")}</tr>` +
      row(`full (${model.own_plan})`, r.full) + row(`reduced (${p})`, r.reduced);
    const series = [{ name: `full (${model.own_plan})`, points: r.full.map((v, i) => [i, 100 * v]) },
      { name: `reduced (${p})`, points: r.reduced.map((v, i) => [i, 100 * v]) }];
    $("probe-chart").hidden = false;
    $("probe-chart").dataset.points = String(r.full.length + r.reduced.length);
    wasm.draw_lines("probe-chart", "Linear probe dev accuracy per layer", "hidden state (0 = embeddings)", "accuracy (%)", series);
    setStatus(`Probes trained in ${(r.ms / 1000).toFixed(1)} s.`);
  });
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

async function adapterInfo() {
  if (!navigator.gpu) return null;
  try {
    const a = await navigator.gpu.requestAdapter();
    if (!a) return null;
    const i = a.info || {};
    adapterName = [[i.vendor, i.architecture].filter(Boolean).join(" · ") || "unnamed adapter", i.isFallbackAdapter ? "software" : ""].filter(Boolean).join(", ");
    return `WebGPU adapter: ${[i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(" · ") || "unnamed"}; ` +
      `max buffer ${(a.limits.maxBufferSize / 2 ** 20).toFixed(0)} MiB, max storage binding ${(a.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB` +
      `${i.isFallbackAdapter ? " (software fallback)" : ""}`;
  } catch (e) {
    return null;
  }
}

let started = false;
async function start() {
  if (started) return;
  started = true;
  wasm = window.wasmBindings;
  const info = await adapterInfo();
  if (info) {
    $("adapter").textContent = info;
  } else {
    $("adapter").textContent = navigator.gpu
      ? "WebGPU is present but no adapter was granted (blocklisted GPU or driver). Using burn's CPU backend in wasm instead (slower)."
      : "This browser has no WebGPU (navigator.gpu is missing): use Chrome/Edge 113+ or enable it (chrome://flags/#enable-unsafe-webgpu, Firefox Nightly dom.webgpu.enabled). Using burn's CPU backend in wasm instead (slower).";
    $("use-cpu").checked = true;
  }
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
  $("clear-cache").addEventListener("click", async () => { await wasm.clear_checkpoint_cache(); setStatus("Cleared the checkpoint cache."); });
  $("data-source").addEventListener("change", () => {
    $("file-row").hidden = $("data-source").value !== "file";
    $("hub-rows-row").hidden = !$("data-source").value.startsWith("hub");
  });
  await loadRunIndex();
  await load();
}
// Trunk's loader sets window.wasmBindings and fires this event; either may come first.
addEventListener("TrunkApplicationStarted", start);
if (window.wasmBindings) start();
