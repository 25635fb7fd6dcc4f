// Glue only: the page's work (loading, tokenizing, both forward passes) happens in Rust/wasm.
const $ = (id) => document.getElementById(id);
let model = null;

function setStatus(text) { $("status").textContent = text; }
function showError(e) { $("error").textContent = String(e && e.message ? e.message : e); }
function plan() {
  const kept = [...document.querySelectorAll("#layers input:checked")].map((c) => c.dataset.layer);
  return kept.length === model.num_layers ? "all" : kept.length === 0 ? "none" : kept.join(",");
}
const fmt = (n) => n.toLocaleString("en-US");

function renderStats() {
  const full = model.stats("all", 128), red = model.stats(plan(), 128);
  $("stats").innerHTML = `<tr><th></th><th>full</th><th>reduced (${red.plan})</th></tr>
    <tr><td>parameters</td><td>${fmt(full.total_params)}</td><td>${fmt(red.total_params)}</td></tr>
    <tr><td>weights (f32)</td><td>${(full.weight_bytes / 1e6).toFixed(1)} MB</td><td>${(red.weight_bytes / 1e6).toFixed(1)} MB</td></tr>
    <tr><td>FLOPs / token @128</td><td>${(full.flops_per_token / 1e6).toFixed(1)} M</td><td>${(red.flops_per_token / 1e6).toFixed(1)} M</td></tr>`;
}

async function load(wasm) {
  $("error").textContent = "";
  $("load-progress").hidden = false;
  $("encode").disabled = true;
  const cpu = $("use-cpu").checked;
  setStatus(`Loading ${$("model-url").value} on ${cpu ? "the CPU backend" : "WebGPU"}…`);
  try {
    model = await wasm.WebModel.load($("model-url").value, cpu);
    const layers = $("layers");
    layers.innerHTML = "Intermediate block kept in layer: ";
    for (let i = 0; i < model.num_layers; i++) {
      const keep = i === 0 || i === model.num_layers - 1;
      layers.insertAdjacentHTML("beforeend", `<label><input type="checkbox" data-layer="${i}" ${keep ? "checked" : ""}/> ${i}</label>`);
    }
    layers.querySelectorAll("input").forEach((c) => c.addEventListener("change", renderStats));
    renderStats();
    setStatus(`Loaded on ${model.device_name}.`);
    $("encode").disabled = false;
  } catch (e) {
    setStatus("Loading failed.");
    showError(e);
  } finally {
    $("load-progress").hidden = true;
  }
}

function cosine(a, b) {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return d / Math.sqrt(na * nb);
}

async function encode() {
  $("error").textContent = "";
  try {
    const a = $("text-a").value, b = $("text-b").value || null;
    const full = await model.encode("all", a, b);
    const red = await model.encode(plan(), a, b);
    $("results").innerHTML = `<tr><th></th><th>full</th><th>reduced (${red.plan})</th></tr>
      <tr><td>tokens</td><td>${full.tokens}</td><td>${red.tokens}</td></tr>
      <tr><td>latency</td><td>${full.ms.toFixed(1)} ms</td><td>${red.ms.toFixed(1)} ms</td></tr>
      <tr><td>cosine(full, reduced) of [CLS]</td><td colspan="2">${cosine(full.cls, red.cls).toFixed(4)}</td></tr>`;
    setStatus(`Encoded: full ${full.ms.toFixed(1)} ms, reduced ${red.ms.toFixed(1)} ms.`);
    document.title = "Undivided — encoded";
  } catch (e) {
    showError(e);
  }
}

let started = false;
async function start() {
  if (started) return;
  started = true;
  const wasm = window.wasmBindings;
  if (!navigator.gpu) {
    setStatus("This browser has no WebGPU (navigator.gpu is missing). Enable it (Chrome 113+, or chrome://flags/#enable-unsafe-webgpu) or tick 'CPU backend'.");
    $("use-cpu").checked = true;
  }
  $("load").addEventListener("click", () => load(wasm));
  $("encode").addEventListener("click", encode);
  await load(wasm);
}
// Trunk's loader sets window.wasmBindings and fires this event; either may come first.
addEventListener("TrunkApplicationStarted", start);
if (window.wasmBindings) start();
