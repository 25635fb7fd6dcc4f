//! The project's own answer, on the page's first visit: the studies committed under
//! `docs/results/` (served beside the page as `results/`, listed in `results/index.json`), read
//! with the same types the command line writes them with — so the hosted page shows what was
//! measured before a visitor runs anything.

use wasm_bindgen::prelude::*;

use super::{js_err, to_js};
use crate::experiment::results::parse_findings_index;
use crate::experiment::study_table::parse_study;

/// `results/index.json`: `{studies: [{path, note}]}`.
#[wasm_bindgen]
pub fn findings_index(name: &str, text: &str) -> Result<JsValue, JsValue> {
    to_js(&parse_findings_index(name, text).map_err(js_err)?)
}

/// A committed `study.json`: `{title, layers, tasks: [{task, metric, answer, full, rows}]}`.
#[wasm_bindgen]
pub fn study_findings(name: &str, text: &str) -> Result<JsValue, JsValue> {
    to_js(&parse_study(name, text).map_err(js_err)?)
}

/// Draws a study's figure on the canvas: Δ vs the full model per task, plan and route, with the
/// seeds' standard deviation as error bars (the PNG `undivided study` writes, in the page).
#[wasm_bindgen]
pub fn draw_study(canvas_id: &str, name: &str, text: &str) -> Result<(), JsValue> {
    let table = parse_study(name, text).map_err(js_err)?;
    let (groups, series) = table.delta_series();
    super::chart::grouped_bars(canvas_id, "Δ vs the full model per task (best dev, mean ± sd over seeds)", "points (dev metric × 100)", &groups, &series)
}
