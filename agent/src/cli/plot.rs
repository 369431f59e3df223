//! `eval --plot`: per stage, the VMs each policy runs and the share of traffic it sends to FaaS,
//! against the stage's load, over one episode, as a PNG. Text uses the embedded DejaVu Sans
//! (`agent/assets`, Bitstream Vera licence), so the picture is the same on any machine.

use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use serflow_policies::files::directory_of;
use std::path::Path;

/// One policy's episode, per interval.
pub struct Episode {
    /// The policy's name.
    pub policy: String,
    /// Minutes since the episode started.
    pub minutes: Vec<f64>,
    /// Per stage: arrival rate (req/s), VMs committed, share of arrivals run on FaaS.
    pub rate: Vec<Vec<f64>>,
    /// See `rate`.
    pub vms: Vec<Vec<f64>>,
    /// See `rate`.
    pub faas_share: Vec<Vec<f64>>,
}

const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const LOAD: RGBColor = RGBColor(170, 170, 170);

/// Checks, before any episode runs, that `path` names a PNG file in a directory that exists.
pub fn check_target(path: &Path) -> Result<()> {
    let png = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("png"));
    anyhow::ensure!(png, "--plot: {}: the picture is a PNG: give a file ending .png", path.display());
    let dir = directory_of(path);
    anyhow::ensure!(dir.is_dir(), "--plot: {}: no directory {}", path.display(), dir.display());
    Ok(())
}

/// Draws `episodes` (same seed, one per policy) to the PNG `path`, written atomically.
pub fn plot(path: &Path, title: &str, episodes: &[Episode]) -> Result<()> {
    // Registering twice replaces the same font: harmless.
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| anyhow::anyhow!("the embedded font is unreadable"))?;
    let n_stages = episodes.first().map_or(0, |e| e.rate.len());
    let dir = directory_of(path);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("plot.png");
    let temp = dir.join(format!(".{name}.{}.png", std::process::id()));
    let drawn = (|| -> Result<()> {
        let height = 60 + 260 * n_stages.max(1) as u32;
        let root = BitMapBackend::new(&temp, (1400, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(title, ("sans-serif", 22))?;
        let rows = root.split_evenly((n_stages.max(1), 2));
        for k in 0..n_stages {
            panel(&rows[2 * k], episodes, k, "VMs", |e| &e.vms[k])?;
            panel(&rows[2 * k + 1], episodes, k, "FaaS share", |e| &e.faas_share[k])?;
        }
        root.present()?;
        Ok(())
    })();
    if let Err(e) = drawn {
        let _ = std::fs::remove_file(&temp);
        return Err(e.context(format!("{}: cannot draw", path.display())));
    }
    std::fs::rename(&temp, path).with_context(|| format!("{}: cannot write", path.display()))
}

/// One chart: `quantity` of every policy (left axis) over the stage's load (right axis, grey).
fn panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    episodes: &[Episode],
    stage: usize,
    quantity: &str,
    values: impl Fn(&Episode) -> &Vec<f64>,
) -> Result<()> {
    let minutes = episodes[0].minutes.last().copied().unwrap_or(1.0).max(1e-9);
    let top = episodes.iter().flat_map(|e| values(e).iter().copied()).fold(1.0, f64::max) * 1.1;
    let load = &episodes[0].rate[stage];
    let load_top = load.iter().copied().fold(1.0, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .margin(8)
        .caption(format!("stage {}: {quantity} against load", stage + 1), ("sans-serif", 16))
        .x_label_area_size(30)
        .y_label_area_size(50)
        .right_y_label_area_size(60)
        .build_cartesian_2d(0.0..minutes, 0.0..top)?
        .set_secondary_coord(0.0..minutes, 0.0..load_top);
    chart.configure_mesh().x_desc("minutes").y_desc(quantity).label_style(("sans-serif", 12)).draw()?;
    chart.configure_secondary_axes().y_desc("arrivals req/s").label_style(("sans-serif", 12)).draw()?;
    chart
        .draw_secondary_series(LineSeries::new(
            episodes[0].minutes.iter().copied().zip(load.iter().copied()),
            LOAD,
        ))?
        .label("load")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], LOAD));
    for (i, episode) in episodes.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                episode.minutes.iter().copied().zip(values(episode).iter().copied()),
                color.stroke_width(2),
            ))?
            .label(episode.policy.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 12))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
