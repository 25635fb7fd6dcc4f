//! Charts with plotters, drawn on any plotters backend: a `<canvas>` in the page
//! (`web::chart`), PNG files natively ([`png`]). One drawing function per kind of chart, so the
//! page and the command line show the same pictures.

#[cfg(not(target_arch = "wasm32"))]
pub mod png;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use serde::Deserialize;

/// A chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("chart: {0}")]
    Draw(String),
    #[error("chart: {0}")]
    Input(&'static str),
    /// Native PNG charts render their text with a TrueType font read from the system.
    #[error("chart: no usable font for the chart's text ({0}); install one (Debian: `apt install fonts-dejavu-core`) or point UNDIVIDED_FONT at a .ttf file")]
    NoFont(String),
    #[error("chart: writing {path}: {message}")]
    Write { path: String, message: String },
}

fn draw_err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> ChartError {
    ChartError::Draw(e.to_string())
}

/// One line of a chart: `points` are `[x, y]` pairs.
#[derive(Debug, Clone, Deserialize)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Full model blue, reduced orange, further lines green, purple, red and brown.
pub const COLOURS: [RGBColor; 6] =
    [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(148, 103, 189), RGBColor(214, 39, 40), RGBColor(140, 86, 75)];

/// Layer names of hidden-state matrices: `emb` for the embeddings output, then `L1`, `L2`, ...
pub fn layer_name(i: usize) -> String {
    if i == 0 { "emb".to_string() } else { format!("L{i}") }
}

/// Draws `series` as lines, with a legend. Non-finite points are left out (a NaN loss breaks the
/// line instead of the chart).
pub fn lines<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, x_label: &str, y_label: &str, series: &[Series]) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(draw_err)?;
    let points = series.iter().flat_map(|s| s.points.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x_min, mut x_max, mut y_min, mut y_max) = (0.0f64, 1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in points {
        x_min = x_min.min(x);
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let pad = ((y_max - y_min) * 0.05).max(1e-3);
    let y_low = if y_min >= 0.0 { (y_min - pad).max(0.0) } else { y_min - pad };
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(32)
        .y_label_area_size(52)
        .build_cartesian_2d(x_min..x_max, y_low..y_max + pad)
        .map_err(draw_err)?;
    chart.configure_mesh().x_desc(x_label).y_desc(y_label).light_line_style(WHITE.mix(0.0)).draw().map_err(draw_err)?;
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let finite: Vec<(f64, f64)> = s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        chart.draw_series(LineSeries::new(finite.clone(), colour.stroke_width(2))).map_err(draw_err)?;
        // Markers, so that a series of a few points (one per layer) reads as data, not a trend.
        if finite.len() <= 32 {
            chart.draw_series(finite.iter().map(|&p| Circle::new(p, 3, colour.filled()))).map_err(draw_err)?;
        }
    }
    let entries: Vec<(String, RGBColor)> = series.iter().enumerate().map(|(i, s)| (s.name.clone(), COLOURS[i % COLOURS.len()])).collect();
    legend(&chart.plotting_area().strip_coord_spec(), &entries, true)?;
    root.present().map_err(draw_err)
}

/// A legend in a corner of the plotting area (the top right, or the bottom right): a swatch and
/// the name of each entry on a white box. Drawn here rather than with plotters' series labels,
/// which size their text through the font layer — in the browser a forced layout of the whole
/// page per entry (hundreds of milliseconds on the page's thread); this sizes it through the
/// backend, which the page's canvas answers with `measureText`.
fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, entries: &[(String, RGBColor)], top: bool) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    if entries.is_empty() {
        return Ok(());
    }
    let style: TextStyle = ("sans-serif", 13).into_text_style(area);
    let mut sizes = Vec::with_capacity(entries.len());
    for (name, _) in entries {
        sizes.push(area.estimate_text_size(name, &style).map_err(draw_err)?);
    }
    let text_w = sizes.iter().map(|s| s.0).max().unwrap_or(0) as i32;
    let line_h = sizes.iter().map(|s| s.1).max().unwrap_or(13) as i32 + 4;
    let (w, h) = area.dim_in_pixel();
    let (box_w, box_h) = (text_w + 36, entries.len() as i32 * line_h + 8);
    let x0 = (w as i32 - box_w - 8).max(0);
    let y0 = if top { 8 } else { (h as i32 - box_h - 8).max(0) };
    area.draw(&Rectangle::new([(x0, y0), (x0 + box_w, y0 + box_h)], WHITE.mix(0.85).filled())).map_err(draw_err)?;
    area.draw(&Rectangle::new([(x0, y0), (x0 + box_w, y0 + box_h)], BLACK.stroke_width(1))).map_err(draw_err)?;
    for (i, ((name, colour), (_, th))) in entries.iter().zip(&sizes).enumerate() {
        let y = y0 + 4 + i as i32 * line_h + line_h / 2;
        area.draw(&PathElement::new(vec![(x0 + 6, y), (x0 + 26, y)], colour.stroke_width(3))).map_err(draw_err)?;
        area.draw(&Text::new(name.clone(), (x0 + 32, y - *th as i32 / 2), style.clone())).map_err(draw_err)?;
    }
    Ok(())
}

/// Draws one bar per label (`values` in `unit`), each value written above its bar. `reference`
/// draws a dashed horizontal line (for example the full model's accuracy).
pub fn bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    unit: &str,
    labels: &[String],
    values: &[f64],
    reference: Option<(&str, f64)>,
) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    if labels.len() != values.len() {
        return Err(ChartError::Input("one value per label expected"));
    }
    root.fill(&WHITE).map_err(draw_err)?;
    let finite = values.iter().copied().chain(reference.map(|(_, v)| v)).filter(|v| v.is_finite());
    let top = finite.fold(0.0, f64::max).max(1e-9) * 1.2;
    let n = labels.len().max(1);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(52)
        .build_cartesian_2d(0f64..n as f64, 0f64..top)
        .map_err(draw_err)?;
    category_axis(&mut chart, labels, unit)?;
    for (i, v) in values.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart.draw_series(std::iter::once(Rectangle::new([(i as f64 + 0.2, 0.0), (i as f64 + 0.8, *v)], colour.filled()))).map_err(draw_err)?;
        chart.draw_series(std::iter::once(Text::new(format!("{v:.1}"), (i as f64 + 0.35, *v + top * 0.03), ("sans-serif", 13)))).map_err(draw_err)?;
    }
    if let Some((name, v)) = reference {
        chart.draw_series(DashedLineSeries::new(vec![(0.0, v), (n as f64, v)], 6, 4, BLACK.stroke_width(1))).map_err(draw_err)?;
        legend(&chart.plotting_area().strip_coord_spec(), &[(name.to_string(), BLACK)], true)?;
    }
    root.present().map_err(draw_err)
}

/// The mesh of a bar chart: one labelled category per unit of x (the label at its middle), no
/// vertical grid lines, `unit` on the y axis.
fn category_axis<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    labels: &[String],
    unit: &str,
) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(labels.len().max(1) * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 0.01 { labels.get(i).cloned().unwrap_or_default() } else { String::new() }
        })
        .y_desc(unit)
        .draw()
        .map_err(draw_err)
}

/// One series of a grouped bar chart: a value and an error (± half-height of its bar) per group,
/// `None` where the series has no bar in that group.
#[derive(Debug, Clone)]
pub struct BarSeries {
    pub name: String,
    pub values: Vec<Option<(f64, f64)>>,
}

/// Grouped bars with error bars, around a zero line (values may be negative): one group per
/// label (a task), one bar per series (a plan and route) in each, a legend naming the series.
pub fn grouped_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    unit: &str,
    groups: &[String],
    series: &[BarSeries],
) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    if groups.is_empty() || series.is_empty() || series.iter().any(|s| s.values.len() != groups.len()) {
        return Err(ChartError::Input("grouped bars: expected one value (or none) per group in every series"));
    }
    root.fill(&WHITE).map_err(draw_err)?;
    let ends = series.iter().flat_map(|s| s.values.iter().flatten().flat_map(|&(v, e)| [v - e.abs(), v + e.abs()])).filter(|v| v.is_finite());
    let (lo, hi) = ends.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let pad = ((hi - lo) * 0.15).max(0.5);
    let (lo, hi) = (lo - pad, hi + pad);
    // The legend goes where the bars are not (above the zero line when every bar goes down,
    // below it otherwise), so the axis leaves it room: its share of the plot's height.
    let all_down = series.iter().flat_map(|s| s.values.iter().flatten()).all(|&(v, _)| v <= 0.0);
    let (_, root_h) = root.dim_in_pixel();
    let legend_px = series.len() as f64 * 17.0 + 24.0;
    let plot_px = (root_h as f64 - 80.0).max(legend_px + 1.0);
    let (lo, hi) = with_legend_room(lo, hi, legend_px / plot_px, all_down);
    let n = groups.len();
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(52)
        .build_cartesian_2d(0f64..n as f64, lo..hi)
        .map_err(draw_err)?;
    category_axis(&mut chart, groups, unit)?;
    chart.draw_series(std::iter::once(PathElement::new(vec![(0.0, 0.0), (n as f64, 0.0)], BLACK.stroke_width(1)))).map_err(draw_err)?;
    let width = 0.8 / series.len() as f64;
    for (k, s) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let bars = s.values.iter().enumerate().filter_map(|(g, v)| v.map(|(v, e)| (g as f64 + 0.1 + k as f64 * width, v, e)));
        for (x, v, e) in bars {
            chart.draw_series(std::iter::once(Rectangle::new([(x, 0.0), (x + width * 0.9, v)], colour.filled()))).map_err(draw_err)?;
            let mid = x + width * 0.45;
            chart.draw_series(std::iter::once(PathElement::new(vec![(mid, v - e.abs()), (mid, v + e.abs())], BLACK.stroke_width(1)))).map_err(draw_err)?;
        }
    }
    let entries: Vec<(String, RGBColor)> = series.iter().enumerate().map(|(k, s)| (s.name.clone(), COLOURS[k % COLOURS.len()])).collect();
    legend(&chart.plotting_area().strip_coord_spec(), &entries, all_down)?;
    root.present().map_err(draw_err)
}

/// The value range `lo..hi` (with `lo ≤ 0 ≤ hi`) widened so that the space above zero (`top`)
/// or below it is at least `fraction` of the whole: room for a legend where no bar is.
fn with_legend_room(lo: f64, hi: f64, fraction: f64, top: bool) -> (f64, f64) {
    let f = fraction.clamp(0.0, 0.9);
    if top {
        // hi / (hi − lo) ≥ f  ⇔  hi ≥ f·(−lo) / (1 − f)
        (lo, hi.max(f * -lo / (1.0 - f)))
    } else {
        (lo.min(-f * hi / (1.0 - f)), hi)
    }
}

/// Draws a matrix as a heat map on `[0, 1]`, white to blue, each cell labelled with its value:
/// rows and columns are the two models' layers (`emb`, `L1`, ...), row 0 at the bottom.
pub fn heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    row_label: &str,
    column_label: &str,
    matrix: &[Vec<f64>],
) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    let (rows, cols) = (matrix.len(), matrix.first().map_or(0, Vec::len));
    if rows == 0 || cols == 0 || matrix.iter().any(|r| r.len() != cols) {
        return Err(ChartError::Input("heat map: expected a non-empty rectangular matrix"));
    }
    root.fill(&WHITE).map_err(draw_err)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(0f64..cols as f64, 0f64..rows as f64)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(cols * 2 + 1)
        .y_labels(rows * 2 + 1)
        .x_label_formatter(&|x| if (x.fract() - 0.5).abs() < 0.01 { layer_name(x.floor() as usize) } else { String::new() })
        .y_label_formatter(&|y| if (y.fract() - 0.5).abs() < 0.01 { layer_name(y.floor() as usize) } else { String::new() })
        .x_desc(column_label)
        .y_desc(row_label)
        .draw()
        .map_err(draw_err)?;
    for (i, row) in matrix.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let t = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
            let shade = |c: u8| (255.0 - t * (255.0 - c as f64)) as u8;
            let colour = RGBColor(shade(31), shade(119), shade(180));
            chart.draw_series(std::iter::once(Rectangle::new([(j as f64, i as f64), (j as f64 + 1.0, i as f64 + 1.0)], colour.filled()))).map_err(draw_err)?;
            let ink = if t > 0.6 { WHITE } else { BLACK };
            chart
                .draw_series(std::iter::once(Text::new(format!("{v:.2}"), (j as f64 + 0.25, i as f64 + 0.65), ("sans-serif", 12).into_font().color(&ink))))
                .map_err(draw_err)?;
        }
    }
    root.present().map_err(draw_err)
}

#[cfg(test)]
mod tests {
    use super::with_legend_room;

    #[test]
    fn the_legend_gets_its_share_of_the_axis_where_no_bar_is() {
        // Every bar down to −20: a legend a third of the plot tall needs 10 points above zero.
        let (lo, hi) = with_legend_room(-20.0, 1.0, 1.0 / 3.0, true);
        assert_eq!(lo, -20.0);
        assert!((hi / (hi - lo) - 1.0 / 3.0).abs() < 1e-12, "{hi}");
        // Enough room already: unchanged.
        assert_eq!(with_legend_room(-2.0, 8.0, 0.25, true), (-2.0, 8.0));
        // Bars up: the room goes below zero.
        let (lo, hi) = with_legend_room(-0.5, 30.0, 0.25, false);
        assert!(hi == 30.0 && (-lo / (hi - lo) - 0.25).abs() < 1e-12, "{lo}");
    }
}
