//! The page, one component per concern.

mod app;
mod chart;
mod controls;
mod export;
mod gallery;
mod history;
mod progress_curve;
mod summary;
mod tile;
mod viewer;
mod waterfall;

pub use app::App;
pub use tile::TileView;

/// The key of a drawn row that is keyed by what it shows: its place, a number it is drawn
/// with, its label and up to four more numbers (`f64::to_bits` for fractions). Every such
/// keyed `<For>` uses this one type, as each key type brings its own keyed-list code.
pub(crate) type ShownKey = (usize, u64, String, [u64; 4]);

/// Whole milliseconds for display, thousands grouped: `1234.4` → `"1,234 ms"`.
pub(crate) fn ms(value: f64) -> String {
    let whole = value.round() as i64;
    let digits = whole.unsigned_abs().to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3 + 4);
    if whole < 0 {
        text.push('-');
    }
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text.push_str(" ms");
    text
}

#[cfg(test)]
mod tests {
    use super::ms;

    #[test]
    fn milliseconds_read_with_grouped_thousands() {
        assert_eq!(ms(0.0), "0 ms");
        assert_eq!(ms(999.4), "999 ms");
        assert_eq!(ms(1234.4), "1,234 ms");
        assert_eq!(ms(1_234_567.0), "1,234,567 ms");
        assert_eq!(ms(-1500.0), "-1,500 ms");
    }
}
