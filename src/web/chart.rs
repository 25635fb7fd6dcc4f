//! The page's charts on a `<canvas>`: thin wasm-bindgen wrappers over [`crate::chart`], which
//! the command line also uses for its PNG files.
//!
//! Drawn on the page's thread, so they must be quick: plotters measures every label in wasm by
//! appending a `<span>` to the page and reading its size, a forced layout of the whole page per
//! label (a loss chart took 350–500 ms). [`MeasuredCanvas`] measures with the canvas's own
//! `measureText` instead, which lays out nothing.

use js_sys::{Function, Reflect};
use plotters::prelude::*;
use plotters_backend::{BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind};
use plotters_canvas::CanvasBackend;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::js_err;
use crate::chart::{self, BarSeries, Series};

/// The canvas backend's error (plotters-canvas does not export its name).
type CanvasError = <CanvasBackend as DrawingBackend>::ErrorType;

/// plotters' canvas backend, with text measured by the canvas (see the module's doc).
pub struct MeasuredCanvas {
    inner: CanvasBackend,
    context: JsValue,
    measure: Function,
}

impl MeasuredCanvas {
    pub fn new(canvas_id: &str) -> Option<Self> {
        let canvas: web_sys::HtmlCanvasElement = web_sys::window()?.document()?.get_element_by_id(canvas_id)?.dyn_into().ok()?;
        let context: JsValue = canvas.get_context("2d").ok()??.into();
        let measure: Function = Reflect::get(&context, &"measureText".into()).ok()?.dyn_into().ok()?;
        Some(Self { inner: CanvasBackend::with_canvas_object(canvas)?, context, measure })
    }
}

impl DrawingBackend for MeasuredCanvas {
    type ErrorType = CanvasError;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }
    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<CanvasError>> {
        self.inner.ensure_prepared()
    }
    fn present(&mut self) -> Result<(), DrawingErrorKind<CanvasError>> {
        self.inner.present()
    }
    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<(), DrawingErrorKind<CanvasError>> {
        self.inner.draw_pixel(point, color)
    }
    fn draw_line<S: BackendStyle>(&mut self, from: BackendCoord, to: BackendCoord, style: &S) -> Result<(), DrawingErrorKind<CanvasError>> {
        self.inner.draw_line(from, to, style)
    }
    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<CanvasError>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(&mut self, path: I, style: &S) -> Result<(), DrawingErrorKind<CanvasError>> {
        self.inner.draw_path(path, style)
    }
    fn draw_circle<S: BackendStyle>(&mut self, center: BackendCoord, radius: u32, style: &S, fill: bool) -> Result<(), DrawingErrorKind<CanvasError>> {
        self.inner.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(&mut self, vert: I, style: &S) -> Result<(), DrawingErrorKind<CanvasError>> {
        self.inner.fill_polygon(vert, style)
    }
    fn draw_text<S: BackendTextStyle>(&mut self, text: &str, style: &S, pos: BackendCoord) -> Result<(), DrawingErrorKind<CanvasError>> {
        self.inner.draw_text(text, style, pos)
    }

    /// The text's width from `measureText` in the font `draw_text` sets; its height as the web
    /// font estimate gives it (the line box, about 1.15 × the font size).
    fn estimate_text_size<S: BackendTextStyle>(&self, text: &str, style: &S) -> Result<(u32, u32), DrawingErrorKind<CanvasError>> {
        let font = format!("{} {}px {}", style.style().as_str(), style.size(), style.family().as_str());
        let _ = Reflect::set(&self.context, &"font".into(), &font.into());
        // A canvas that cannot measure (none does in practice) gets a rough estimate, not an error.
        let width = self
            .measure
            .call1(&self.context, &text.into())
            .ok()
            .and_then(|m| Reflect::get(&m, &"width".into()).ok())
            .and_then(|w| w.as_f64())
            .unwrap_or(0.6 * style.size() * text.chars().count() as f64);
        Ok((width.ceil() as u32, (style.size() * 1.15).ceil() as u32))
    }
}

fn area(canvas_id: &str) -> Result<DrawingArea<MeasuredCanvas, plotters::coord::Shift>, JsValue> {
    let backend = MeasuredCanvas::new(canvas_id).ok_or_else(|| JsValue::from_str(&format!("no <canvas id=\"{canvas_id}\"> in the page")))?;
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

/// Grouped bars with error bars (a study's Δ per task), for Rust callers in the page.
pub fn grouped_bars(canvas_id: &str, title: &str, unit: &str, groups: &[String], series: &[BarSeries]) -> Result<(), JsValue> {
    chart::grouped_bars(&area(canvas_id)?, title, unit, groups, series).map_err(js_err)
}
