//! The page's charts on a `<canvas>`: thin wasm-bindgen wrappers over [`crate::chart`], which
//! the command line also uses for its PNG files.

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use wasm_bindgen::prelude::*;

use super::js_err;
use crate::chart::{self, Series};

fn area(canvas_id: &str) -> Result<DrawingArea<CanvasBackend, plotters::coord::Shift>, JsValue> {
    let backend = CanvasBackend::new(canvas_id).ok_or_else(|| JsValue::from_str(&format!("no <canvas id=\"{canvas_id}\"> in the page")))?;
    Ok(backend.into_drawing_area())
}

/// Draws `series` (a JS array of `{name, points: [[x, y], ...]}`) as lines on the canvas.
#[wasm_bindgen]
pub fn draw_lines(canvas_id: &str, title: &str, x_label: &str, y_label: &str, series: JsValue) -> Result<(), JsValue> {
    let series: Vec<Series> = serde_wasm_bindgen::from_value(series).map_err(js_err)?;
    chart::lines(&area(canvas_id)?, title, x_label, y_label, &series).map_err(js_err)
}

/// Draws one bar per label (`values` in `unit`), value written above each bar.
#[wasm_bindgen]
pub fn draw_bars(canvas_id: &str, title: &str, unit: &str, labels: Vec<String>, values: Vec<f64>) -> Result<(), JsValue> {
    chart::bars(&area(canvas_id)?, title, unit, &labels, &values, None).map_err(js_err)
}

/// Draws a matrix (a JS array of rows) as a heat map on `[0, 1]`: rows and columns are the two
/// models' layers (`emb`, `L1`, ...).
#[wasm_bindgen]
pub fn draw_heatmap(canvas_id: &str, title: &str, row_label: &str, column_label: &str, matrix: JsValue) -> Result<(), JsValue> {
    let matrix: Vec<Vec<f64>> = serde_wasm_bindgen::from_value(matrix).map_err(js_err)?;
    chart::heatmap(&area(canvas_id)?, title, row_label, column_label, &matrix).map_err(js_err)
}
