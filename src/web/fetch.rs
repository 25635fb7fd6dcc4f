//! `fetch()` from Rust, for checkpoints served next to the page or on the hub: streamed with
//! progress, and kept in the browser's Cache API so a reload does not download again.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, ReadableStreamDefaultReader, Response};

use super::WebError;

/// The Cache API bucket of downloaded checkpoint files.
pub const CACHE_NAME: &str = "undivided-checkpoints-v1";

/// GETs `url`; `Ok(None)` on HTTP 404, an error naming the URL otherwise.
pub async fn fetch_bytes(url: &str) -> Result<Option<Vec<u8>>, WebError> {
    Ok(fetch_cached(url, false, &|_, _| {}).await?.map(|(bytes, _)| bytes))
}

/// The global scope `fetch` and `caches` belong to: the page's window, or (where the model work
/// runs) the worker's own scope.
enum Scope {
    Window(web_sys::Window),
    Worker(web_sys::WorkerGlobalScope),
}

impl Scope {
    fn get() -> Result<Self, WebError> {
        let global = js_sys::global();
        if let Some(w) = global.dyn_ref::<web_sys::Window>() {
            Ok(Scope::Window(w.clone()))
        } else if let Some(w) = global.dyn_ref::<web_sys::WorkerGlobalScope>() {
            Ok(Scope::Worker(w.clone()))
        } else {
            Err(WebError::Browser("neither a page nor a worker: no fetch() here".into()))
        }
    }

    fn fetch(&self, url: &str) -> js_sys::Promise {
        match self {
            Scope::Window(w) => w.fetch_with_str(url),
            Scope::Worker(w) => w.fetch_with_str(url),
        }
    }

    fn caches(&self) -> Result<web_sys::CacheStorage, JsValue> {
        match self {
            Scope::Window(w) => w.caches(),
            Scope::Worker(w) => w.caches(),
        }
    }
}

async fn open_cache() -> Option<Cache> {
    let caches = Scope::get().ok()?.caches().ok()?;
    JsFuture::from(caches.open(CACHE_NAME)).await.ok()?.dyn_into().ok()
}

/// GETs `url`, reporting `(bytes so far, total bytes or 0)` to `progress`. With `use_cache`, a
/// cached copy is returned when there is one (`true` in the result) and a fresh download is
/// stored. A browser without the Cache API (or a private window refusing it) just downloads.
pub async fn fetch_cached(url: &str, use_cache: bool, progress: &dyn Fn(f64, f64)) -> Result<Option<(Vec<u8>, bool)>, WebError> {
    let cache = if use_cache { open_cache().await } else { None };
    if let Some(cache) = &cache
        && let Ok(hit) = JsFuture::from(cache.match_with_str(url)).await
        && let Ok(response) = hit.dyn_into::<Response>()
    {
        let bytes = read_body(url, &response, progress).await?;
        return Ok(Some((bytes, true)));
    }
    let fail = |reason: String| WebError::Fetch { url: url.to_string(), reason };
    let response = JsFuture::from(Scope::get()?.fetch(url))
        .await
        .map_err(|e| fail(format!("network error ({}); check the address and that the server allows this page (CORS)", describe(&e))))?;
    let response: Response = response.dyn_into().map_err(|_| fail("fetch did not return a Response".into()))?;
    if response.status() == 404 {
        return Ok(None);
    }
    if !response.ok() {
        return Err(fail(format!("HTTP {} {}", response.status(), response.status_text())));
    }
    if let Some(cache) = &cache
        && let Ok(copy) = response.clone()
    {
        // Stored in the background while the body streams in. A failed store (a full disk, an
        // exhausted storage quota) only means the next load downloads again: say so on the
        // console instead of leaving the promise's rejection unhandled.
        let stored = JsFuture::from(cache.put_with_str(url, &copy));
        let url = url.to_string();
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = stored.await {
                web_sys::console::warn_1(&format!("{url}: not kept in the browser cache ({}); the next load downloads it again", describe(&e)).into());
            }
        });
    }
    Ok(Some((read_body(url, &response, progress).await?, false)))
}

/// Removes every cached checkpoint file.
pub async fn clear_cache() -> Result<(), WebError> {
    let browser = |e: JsValue| WebError::Browser(describe(&e));
    let caches = Scope::get()?.caches().map_err(browser)?;
    JsFuture::from(caches.delete(CACHE_NAME)).await.map_err(browser)?;
    Ok(())
}

async fn read_body(url: &str, response: &Response, progress: &dyn Fn(f64, f64)) -> Result<Vec<u8>, WebError> {
    let fail = |reason: String| WebError::Fetch { url: url.to_string(), reason };
    let total = response.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let Some(body) = response.body() else {
        let buffer = JsFuture::from(response.array_buffer().map_err(|e| fail(describe(&e)))?)
            .await
            .map_err(|e| fail(format!("reading the body failed ({})", describe(&e))))?;
        return Ok(Uint8Array::new(&buffer).to_vec());
    };
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = Vec::with_capacity(total as usize);
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|e| fail(format!("download interrupted ({})", describe(&e))))?;
        if Reflect::get(&chunk, &"done".into()).ok().and_then(|d| d.as_bool()).unwrap_or(true) {
            break;
        }
        let value: Uint8Array = Reflect::get(&chunk, &"value".into()).map_err(|e| fail(describe(&e)))?.unchecked_into();
        bytes.extend_from_slice(&value.to_vec());
        progress(bytes.len() as f64, total);
    }
    Ok(bytes)
}

/// A readable message from a JS exception.
pub fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| e.as_string()).unwrap_or_else(|| format!("{e:?}"))
}
