// The model worker's glue (a module worker): compiles the page's wasm module (and hands it back
// to the page compiled), instantiates it, and hands every
// message to Rust (`Worker.handle`, src/web/worker.rs), one at a time and in order, so a request
// never meets another half-way. All model work happens here, off the page's thread.
let worker = null;
let queue = Promise.resolve();

self.onmessage = (event) => {
  const message = event.data;
  queue = queue.then(() => serve(message));
};

async function serve({ id, init, request, shared }) {
  try {
    if (init) {
      // Compiled here, off the page's thread; the compiled module goes back to the page.
      const response = fetch(init.wasm);
      let module;
      try {
        module = await WebAssembly.compileStreaming(response);
      } catch (_) {
        // A server that does not say application/wasm: compile from the bytes instead.
        module = await WebAssembly.compile(await (await fetch(init.wasm)).arrayBuffer());
      }
      const bindings = await import(init.js);
      await bindings.default({ module_or_path: module });
      worker = new bindings.Worker();
      self.postMessage({ id, ok: true, result: module });
      return;
    }
    if (!worker) throw new Error("the model worker did not start (its wasm module failed to load)");
    const progress = (file, done, total) => self.postMessage({ id, progress: { file, done, total } });
    const result = await worker.handle(request, progress, shared);
    self.postMessage({ id, ok: true, result });
  } catch (e) {
    self.postMessage({ id, ok: false, error: String(e && e.message ? e.message : e) });
  }
}
