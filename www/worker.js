// The model worker's glue (a module worker): loads the page's own wasm module and hands every
// message to Rust (`Worker.handle`, src/web/worker.rs), one at a time and in order, so a request
// never meets another half-way. All model work happens here, off the page's thread.
let worker = null;
let queue = Promise.resolve();

self.onmessage = (event) => {
  const message = event.data;
  queue = queue.then(() => serve(message));
};

async function serve({ id, init, request }) {
  try {
    if (init) {
      const bindings = await import(init.js);
      await bindings.default({ module_or_path: init.wasm });
      worker = new bindings.Worker();
      self.postMessage({ id, ok: true, result: null });
      return;
    }
    if (!worker) throw new Error("the model worker did not start (its wasm module failed to load)");
    const progress = (file, done, total) => self.postMessage({ id, progress: { file, done, total } });
    const result = await worker.handle(request, progress);
    self.postMessage({ id, ok: true, result });
  } catch (e) {
    self.postMessage({ id, ok: false, error: String(e && e.message ? e.message : e) });
  }
}
