//! Native results in the page: the `compare.json` / `results.json` the native runs wrote.

use wasm_bindgen::prelude::*;

use super::{js_err, to_js};
pub use crate::experiment::results::{NativeResults, ResultRow, parse_results};

/// The page's entry point: `{title, rows: [{plan, variant, metric, value, ...}]}`.
#[wasm_bindgen]
pub fn native_results(name: &str, text: &str) -> Result<JsValue, JsValue> {
    to_js(&parse_results(name, text).map_err(js_err)?)
}

/// The published native runs (`runs/index.json` beside the page, written by `undivided
/// publish`): `{checkpoints: [{path, kind, plan, params, task, metric, value, labels}],
/// results: [{path, title}]}`.
#[wasm_bindgen]
pub fn run_index(name: &str, text: &str) -> Result<JsValue, JsValue> {
    to_js(&crate::experiment::results::parse_index(name, text).map_err(js_err)?)
}
