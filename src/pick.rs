//! Chooses which comics a run fetches: distinct, valid numbers from 1 to the latest,
//! never 0 and never 404 (xkcd has no comic 404).

/// `count` distinct comics from `1..=latest`, drawn with `random` (values in `[0, 1)`).
pub fn random_comics(count: u32, latest: u32, mut random: impl FnMut() -> f64) -> Vec<u32> {
    let available = latest.saturating_sub(u32::from(latest >= 404));
    let count = count.min(available) as usize;
    let mut chosen = Vec::with_capacity(count);
    while chosen.len() < count {
        // Probe upward from the draw, so that a taken number never stalls the pick.
        let mut num = (1 + (random() * f64::from(latest)) as u32).min(latest);
        while num == 404 || chosen.contains(&num) {
            num = num % latest + 1;
        }
        chosen.push(num);
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: u64) -> impl FnMut() -> f64 {
        let mut state = seed;
        move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn distinct_valid_and_never_404() {
        for seed in 0..50 {
            let comics = random_comics(100, 3000, lcg(seed));
            assert_eq!(comics.len(), 100);
            let mut sorted = comics.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), 100);
            assert!(comics.iter().all(|&n| (1..=3000).contains(&n) && n != 404));
        }
    }

    #[test]
    fn small_catalogues_give_what_they_have() {
        let mut all = random_comics(100, 405, lcg(1));
        all.sort();
        assert_eq!(all.len(), 100);
        let mut tiny = random_comics(10, 3, lcg(2));
        tiny.sort();
        assert_eq!(tiny, [1, 2, 3]);
        assert_eq!(random_comics(5, 0, lcg(3)), Vec::<u32>::new());
        // Even a random source stuck at the top edge terminates.
        assert_eq!(random_comics(1, 7, || 0.999_999_999), [7]);
    }
}
