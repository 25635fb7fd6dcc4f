//! `fetch()` from Rust, for checkpoints served next to the page or on the hub.

use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::Response;

/// GETs `url`; `Ok(None)` on HTTP 404, an error naming the URL otherwise.
pub async fn fetch_bytes(url: &str) -> Result<Option<Vec<u8>>, String> {
    let window = web_sys::window().ok_or("no window object (not running in a page)")?;
    let response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| format!("{url}: network error ({e:?})"))?;
    let response: Response = response.dyn_into().map_err(|_| format!("{url}: fetch did not return a Response"))?;
    if response.status() == 404 {
        return Ok(None);
    }
    if !response.ok() {
        return Err(format!("{url}: HTTP {} {}", response.status(), response.status_text()));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(|e| format!("{url}: {e:?}"))?)
        .await
        .map_err(|e| format!("{url}: reading the body failed ({e:?})"))?;
    Ok(Some(Uint8Array::new(&buffer).to_vec()))
}
