//! PNG files of the charts, for the command line (`analyze`, `sweep`). plotters rasterises text
//! with ab_glyph from a TrueType font that this module reads once from the system: no font is
//! bundled, and no fontconfig library is linked.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;

use super::{ChartError, Series};

/// Pixel size of every PNG chart.
pub const SIZE: (u32, u32) = (900, 560);

/// Where common systems keep a sans-serif TrueType font (Debian/Ubuntu, Fedora, Arch, macOS, Windows).
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// The font file used for chart text: `$UNDIVIDED_FONT` when set (and then only it), else the
/// first of [`FONT_PATHS`] that exists.
pub fn font_path() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("UNDIVIDED_FONT").map(PathBuf::from) {
        return if path.is_file() { Ok(path) } else { Err(format!("UNDIVIDED_FONT={} is not a file", path.display())) };
    }
    FONT_PATHS.iter().map(PathBuf::from).find(|p| p.is_file()).ok_or_else(|| format!("none of {} exists", FONT_PATHS.join(", ")))
}

/// Registers the font as plotters' "sans-serif" once per process.
fn ensure_font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let path = font_path()?;
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            // plotters keeps fonts for the whole process; this happens once.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| format!("{}: not a TrueType/OpenType font", path.display()))
        })
        .clone()
        .map_err(ChartError::NoFont)
}

/// Paints into an RGB buffer, then writes it as a PNG atomically (a chart is never half written).
fn draw(path: &Path, paint: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<(), ChartError>) -> Result<(), ChartError> {
    ensure_font()?;
    let mut rgb = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        paint(&root)?;
    }
    let write_err = |message: String| ChartError::Write { path: path.display().to_string(), message };
    let mut bytes = Vec::new();
    {
        let mut encoder = ::png::Encoder::new(&mut bytes, SIZE.0, SIZE.1);
        encoder.set_color(::png::ColorType::Rgb);
        encoder.set_depth(::png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| write_err(e.to_string()))?;
        writer.write_image_data(&rgb).map_err(|e| write_err(e.to_string()))?;
    }
    crate::checkpoint::write_atomic(path, &bytes).map_err(|e| write_err(e.to_string()))
}

/// Writes a line chart (see [`super::lines`]) to `path`.
pub fn lines(path: &Path, title: &str, x_label: &str, y_label: &str, series: &[Series]) -> Result<(), ChartError> {
    draw(path, |root| super::lines(root, title, x_label, y_label, series))
}

/// Writes a bar chart (see [`super::bars`]) to `path`.
pub fn bars(path: &Path, title: &str, unit: &str, labels: &[String], values: &[f64], reference: Option<(&str, f64)>) -> Result<(), ChartError> {
    draw(path, |root| super::bars(root, title, unit, labels, values, reference))
}

/// Writes a heat map (see [`super::heatmap`]) to `path`.
pub fn heatmap(path: &Path, title: &str, row_label: &str, column_label: &str, matrix: &[Vec<f64>]) -> Result<(), ChartError> {
    draw(path, |root| super::heatmap(root, title, row_label, column_label, matrix))
}

/// Writes grouped bars with error bars (see [`super::grouped_bars`]) to `path`.
pub fn grouped_bars(path: &Path, title: &str, unit: &str, groups: &[String], series: &[super::BarSeries]) -> Result<(), ChartError> {
    draw(path, |root| super::grouped_bars(root, title, unit, groups, series))
}
