//! PNG plots of the training curves, drawn with `plotters` (text in the embedded DejaVu Sans, so
//! no system fonts are needed), encoded with `image`.

use crate::{TrainError, fsutil};
use plotters::prelude::*;
use std::{collections::BTreeMap, path::Path, sync::Once};

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

/// One curve: a name and `(epoch, value)` points.
pub type Series = (String, Vec<(f64, f64)>);

const COLOURS: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
];

/// Draws `series` against the epoch into a 800×500 PNG at `path` (written atomically). Empty
/// series are skipped; nothing is written when all are empty.
pub fn line_plot(path: &Path, title: &str, y_label: &str, series: &[Series], log_y: bool) -> Result<(), TrainError> {
    let series: Vec<&Series> = series.iter().filter(|(_, p)| !p.is_empty()).collect();
    if series.is_empty() {
        return Ok(());
    }
    register_font();
    let (w, h) = (800u32, 500u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        if y.is_finite() && (!log_y || y > 0.0) {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    if x0 > x1 {
        return Ok(());
    }
    if x1 - x0 < 1e-9 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-9);
    let draw = |buf: &mut [u8]| -> Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::with_buffer(buf, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        macro_rules! chart {
            ($range:expr) => {{
                let mut chart = ChartBuilder::on(&root)
                    .caption(title, ("sans-serif", 22))
                    .margin(12)
                    .x_label_area_size(40)
                    .y_label_area_size(70)
                    .build_cartesian_2d(x0..x1, $range)?;
                chart.configure_mesh().x_desc("epoch").y_desc(y_label).draw()?;
                for (i, (name, pts)) in series.iter().enumerate() {
                    let colour = COLOURS[i % COLOURS.len()];
                    let pts: Vec<(f64, f64)> = pts
                        .iter()
                        .copied()
                        .filter(|(_, y)| y.is_finite() && (!log_y || *y > 0.0))
                        .collect();
                    chart
                        .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))?
                        .label(name.as_str())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
                    chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, colour.filled())))?;
                }
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .position(SeriesLabelPosition::UpperRight)
                    .draw()?;
            }};
        }
        if log_y {
            chart!((y0 * 0.9..y1 * 1.1).log_scale());
        } else {
            chart!(y0 - pad..y1 + pad);
        }
        root.present()?;
        Ok(())
    };
    draw(&mut buf).map_err(|e| TrainError::Training(format!("plotting {}: {e}", path.display())))?;
    let img = image::RgbImage::from_raw(w, h, buf).expect("buffer size matches");
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| TrainError::Training(format!("encoding {}: {e}", path.display())))?;
    fsutil::write_atomic(path, &png).map_err(|e| TrainError::io(path, e))
}

/// The columns of a metrics table whose names satisfy `keep`, as series.
fn pick(table: &BTreeMap<usize, BTreeMap<String, f64>>, keep: impl Fn(&str) -> bool) -> Vec<Series> {
    let mut names: Vec<String> = table
        .values()
        .flat_map(|r| r.keys().cloned())
        .filter(|k| keep(k))
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|n| {
            let pts = table
                .iter()
                .filter_map(|(e, r)| r.get(&n).map(|v| (*e as f64, *v)))
                .collect();
            (n, pts)
        })
        .collect()
}

/// Writes `loss.png`, `accuracy.png` and `learning_rate.png` into `run_dir` from a per-epoch
/// metrics table (column names as in `metrics.csv`).
pub fn write_training_plots(run_dir: &Path, table: &BTreeMap<usize, BTreeMap<String, f64>>) -> Result<(), TrainError> {
    line_plot(
        &run_dir.join("loss.png"),
        "Loss",
        "loss",
        &pick(table, |k| k.ends_with("_loss")),
        false,
    )?;
    line_plot(
        &run_dir.join("accuracy.png"),
        "Accuracy",
        "%  / fraction",
        &pick(table, |k| k.contains("accuracy") || k.contains("iou")),
        false,
    )?;
    line_plot(
        &run_dir.join("learning_rate.png"),
        "Learning rate",
        "learning rate",
        &pick(table, |k| k.contains("learning_rate")),
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_are_pngs_with_drawn_curves() {
        let dir = tempfile::tempdir().unwrap();
        let mut table: BTreeMap<usize, BTreeMap<String, f64>> = BTreeMap::new();
        for e in 1..=4 {
            let row = table.entry(e).or_default();
            row.insert("train_loss".into(), 1.0 / e as f64);
            row.insert("valid_loss".into(), 1.2 / e as f64);
            row.insert("valid_accuracy".into(), 90.0 + e as f64);
            row.insert("train_learning_rate".into(), 1e-3 / e as f64);
        }
        write_training_plots(dir.path(), &table).unwrap();
        for name in ["loss.png", "accuracy.png", "learning_rate.png"] {
            let img = image::open(dir.path().join(name)).unwrap().to_rgb8();
            assert_eq!((img.width(), img.height()), (800, 500));
            // The first curve's colour is drawn.
            assert!(img.pixels().any(|p| p.0 == [0, 114, 178]), "{name} has no curve");
            // Text was rendered (dark anti-aliased glyph pixels that are not pure black).
            assert!(
                img.pixels()
                    .any(|p| p.0[0] > 0 && p.0[0] < 128 && p.0[0] == p.0[1] && p.0[1] == p.0[2])
            );
        }
    }
}
