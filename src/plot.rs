//! Chart geometry: round axis ticks, and the progress curve (comics settled against time,
//! one staircase per run, every run on one shared scale). Numbers in, SVG path data out;
//! no browser needed.

use std::fmt::Write;

/// Round tick positions: 4 to 10 of them across `0..end`.
pub fn axis_ticks(end: f64) -> Vec<f64> {
    if !end.is_finite() {
        return Vec::new();
    }
    let raw = end / 6.0;
    // The largest power of ten up to `raw` (at least 1), by multiplying: `log10` and `powf`
    // would bring their own code into the wasm.
    let mut magnitude = 1.0;
    while magnitude * 10.0 <= raw {
        magnitude *= 10.0;
    }
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(magnitude * 10.0);
    (1..).map(|i| i as f64 * step).take_while(|t| *t < end).collect()
}

/// `value` to one decimal, finer than a pixel on these charts, so the markup stays short.
pub fn tenths(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Where the lines go inside the SVG, in its user units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Area {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
}

/// Axes shared by every run on one chart, so that their lines compare directly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub area: Area,
    /// The time at the right edge, in ms from pressing Run.
    pub end_ms: f64,
    /// The count at the top edge: the largest run's number of comics.
    pub most: usize,
}

impl Scale {
    /// Axes that fit every run; each run is its settle times and its number of comics.
    pub fn fitting<'a>(runs: impl IntoIterator<Item = (&'a [f64], usize)>, area: Area) -> Scale {
        let (mut end_ms, mut most) = (1.0_f64, 1_usize);
        for (times, total) in runs {
            end_ms = times.iter().copied().fold(end_ms, f64::max);
            most = most.max(total).max(times.len());
        }
        Scale { area, end_ms, most }
    }

    pub fn x(&self, ms: f64) -> f64 {
        self.area.left + ms.clamp(0.0, self.end_ms) / self.end_ms * self.area.width
    }

    pub fn y(&self, settled: usize) -> f64 {
        self.area.top + self.area.height * (1.0 - settled.min(self.most) as f64 / self.most as f64)
    }
}

/// `(time, comics settled by then)` at each moment the count rises, in time order.
pub fn steps(settle_times: &[f64]) -> Vec<(f64, usize)> {
    // Found by repeated scans rather than a sort: a run has at most `MAX_COMICS` comics, and
    // a sort for floats would be code of its own in the wasm.
    let mut steps: Vec<(f64, usize)> = Vec::new();
    let mut after = f64::NEG_INFINITY;
    loop {
        let next = settle_times
            .iter()
            .copied()
            .filter(|t| *t > after)
            .fold(f64::INFINITY, f64::min);
        if !next.is_finite() {
            return steps;
        }
        let settled = settle_times.iter().filter(|t| **t <= next).count();
        steps.push((next, settled));
        after = next;
    }
}

/// SVG path data for one run: a staircase from nothing settled at Run that rises at each
/// comic's settle time (`M`, then `H`/`V` pairs; one decimal is finer than a pixel here).
pub fn staircase(settle_times: &[f64], scale: &Scale) -> String {
    let mut data = format!("M{},{}", tenths(scale.x(0.0)), tenths(scale.y(0)));
    for (t, settled) in steps(settle_times) {
        let _ = write!(data, "H{}V{}", tenths(scale.x(t)), tenths(scale.y(settled)));
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    const AREA: Area = Area {
        left: 40.0,
        top: 10.0,
        width: 500.0,
        height: 100.0,
    };

    #[test]
    fn ticks_are_round_and_inside() {
        assert_eq!(axis_ticks(1000.0), vec![200.0, 400.0, 600.0, 800.0]);
        assert_eq!(
            axis_ticks(10_400.0),
            vec![2000.0, 4000.0, 6000.0, 8000.0, 10_000.0]
        );
        assert_eq!(axis_ticks(60.0), vec![10.0, 20.0, 30.0, 40.0, 50.0]);
        assert!(axis_ticks(0.5).is_empty());
        assert!(axis_ticks(f64::INFINITY).is_empty());
        assert!(axis_ticks(f64::NAN).is_empty());
    }

    #[test]
    fn tenths_round_to_one_decimal() {
        assert_eq!(
            (tenths(16.299999), tenths(134.946), tenths(2.0)),
            (16.3, 134.9, 2.0)
        );
        assert_eq!(
            tenths(2.0).to_string(),
            "2",
            "whole numbers print without a decimal"
        );
    }

    #[test]
    fn steps_merge_ties_and_ignore_order() {
        assert_eq!(
            steps(&[900.0, 300.0, 300.0, 600.0]),
            vec![(300.0, 2), (600.0, 3), (900.0, 4)]
        );
        assert!(steps(&[]).is_empty());
        assert_eq!(steps(&[f64::NAN, 5.0]), vec![(5.0, 1)]);
    }

    #[test]
    fn one_scale_fits_every_run() {
        let early: &[f64] = &[100.0, 200.0];
        let late: &[f64] = &[400.0, 1000.0, 1000.0];
        let scale = Scale::fitting([(early, 4), (late, 3)], AREA);
        assert_eq!(scale.end_ms, 1000.0);
        assert_eq!(scale.most, 4, "the largest run's comic count, settled or not");
        assert_eq!(scale.x(0.0), 40.0);
        assert_eq!(scale.x(1000.0), 540.0);
        assert_eq!(scale.x(500.0), 290.0);
        assert_eq!(scale.y(0), 110.0, "nothing settled sits on the bottom edge");
        assert_eq!(scale.y(4), 10.0);
        assert_eq!(scale.y(2), 60.0);
        // Nothing settled yet: a valid scale all the same.
        let empty = Scale::fitting(std::iter::empty(), AREA);
        assert_eq!((empty.end_ms, empty.most), (1.0, 1));
    }

    #[test]
    fn staircase_rises_once_per_settle_time() {
        let times = [500.0, 1000.0, 1000.0];
        let scale = Scale::fitting([(&times[..], 4)], AREA);
        assert_eq!(staircase(&times, &scale), "M40,110H290V85H540V35");
        assert_eq!(staircase(&[], &scale), "M40,110");
    }
}
