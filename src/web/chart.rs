//! Charts drawn on a `<canvas>` with plotters: loss curves of both models on one chart, and bars
//! for the benchmark.

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use serde::Deserialize;
use wasm_bindgen::prelude::*;

use super::js_err;

/// One line of a chart: `points` are `[x, y]` pairs.
#[derive(Debug, Deserialize)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Full model blue, reduced orange, further lines green and purple.
const COLOURS: [RGBColor; 4] = [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

fn backend(canvas_id: &str) -> Result<CanvasBackend, JsValue> {
    CanvasBackend::new(canvas_id).ok_or_else(|| JsValue::from_str(&format!("no <canvas id=\"{canvas_id}\"> in the page")))
}

/// Draws `series` (a JS array of `{name, points: [[x, y], ...]}`) as lines on the canvas.
#[wasm_bindgen]
pub fn draw_lines(canvas_id: &str, title: &str, x_label: &str, y_label: &str, series: JsValue) -> Result<(), JsValue> {
    let series: Vec<Series> = serde_wasm_bindgen::from_value(series).map_err(js_err)?;
    let root = backend(canvas_id)?.into_drawing_area();
    root.fill(&WHITE).map_err(js_err)?;
    let points = series.iter().flat_map(|s| s.points.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in points {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let pad = ((y_max - y_min) * 0.05).max(1e-3);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(32)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..x_max, (y_min - pad).max(0.0)..y_max + pad)
        .map_err(js_err)?;
    chart.configure_mesh().x_desc(x_label).y_desc(y_label).light_line_style(WHITE.mix(0.0)).draw().map_err(js_err)?;
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()), colour.stroke_width(2)))
            .map_err(js_err)?
            .label(&s.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
    }
    if !series.is_empty() {
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(js_err)?;
    }
    root.present().map_err(js_err)
}

/// Draws one bar per label (`values` in `unit`), value written above each bar.
#[wasm_bindgen]
pub fn draw_bars(canvas_id: &str, title: &str, unit: &str, labels: Vec<String>, values: Vec<f64>) -> Result<(), JsValue> {
    if labels.len() != values.len() {
        return Err(JsValue::from_str("draw_bars: one value per label expected"));
    }
    let root = backend(canvas_id)?.into_drawing_area();
    root.fill(&WHITE).map_err(js_err)?;
    let top = values.iter().cloned().filter(|v| v.is_finite()).fold(0.0, f64::max).max(1e-9) * 1.2;
    let n = labels.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..n as f64, 0f64..top)
        .map_err(js_err)?;
    let names = labels.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&move |x| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 0.01 { names.get(i).cloned().unwrap_or_default() } else { String::new() }
        })
        .y_desc(unit)
        .draw()
        .map_err(js_err)?;
    for (i, v) in values.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart.draw_series(std::iter::once(Rectangle::new([(i as f64 + 0.2, 0.0), (i as f64 + 0.8, *v)], colour.filled()))).map_err(js_err)?;
        chart
            .draw_series(std::iter::once(Text::new(format!("{v:.1}"), (i as f64 + 0.35, *v + top * 0.03), ("sans-serif", 13))))
            .map_err(js_err)?;
    }
    root.present().map_err(js_err)
}

/// Draws a matrix (a JS array of rows) as a heat map on `[0, 1]`, white to blue, each cell
/// labelled with its value: rows and columns are the two models' layers (`emb`, `L1`, ...).
#[wasm_bindgen]
pub fn draw_heatmap(canvas_id: &str, title: &str, row_label: &str, column_label: &str, matrix: JsValue) -> Result<(), JsValue> {
    let matrix: Vec<Vec<f64>> = serde_wasm_bindgen::from_value(matrix).map_err(js_err)?;
    let (rows, cols) = (matrix.len(), matrix.first().map_or(0, Vec::len));
    if rows == 0 || cols == 0 || matrix.iter().any(|r| r.len() != cols) {
        return Err(JsValue::from_str("draw_heatmap: expected a non-empty rectangular matrix"));
    }
    let root = backend(canvas_id)?.into_drawing_area();
    root.fill(&WHITE).map_err(js_err)?;
    let name = |i: usize| if i == 0 { "emb".to_string() } else { format!("L{i}") };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..cols as f64, 0f64..rows as f64)
        .map_err(js_err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(cols * 2 + 1)
        .y_labels(rows * 2 + 1)
        .x_label_formatter(&|x| if (x.fract() - 0.5).abs() < 0.01 { name(x.floor() as usize) } else { String::new() })
        .y_label_formatter(&|y| if (y.fract() - 0.5).abs() < 0.01 { name(y.floor() as usize) } else { String::new() })
        .x_desc(column_label)
        .y_desc(row_label)
        .draw()
        .map_err(js_err)?;
    for (i, row) in matrix.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let t = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
            let shade = |c: u8| (255.0 - t * (255.0 - c as f64)) as u8;
            let colour = RGBColor(shade(31), shade(119), shade(180));
            chart.draw_series(std::iter::once(Rectangle::new([(j as f64, i as f64), (j as f64 + 1.0, i as f64 + 1.0)], colour.filled()))).map_err(js_err)?;
            let ink = if t > 0.6 { WHITE } else { BLACK };
            chart
                .draw_series(std::iter::once(Text::new(format!("{v:.2}"), (j as f64 + 0.25, i as f64 + 0.65), ("sans-serif", 12).into_font().color(&ink))))
                .map_err(js_err)?;
        }
    }
    root.present().map_err(js_err)
}
