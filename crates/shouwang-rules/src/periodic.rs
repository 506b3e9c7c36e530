//! The periodic (beaconing) test: are these event times check-ins on a
//! beat? Pure arithmetic over a bounded slice of timestamps.
//!
//! The period is the median interval, so a minority of odd intervals (an
//! extra connection, a missed beat) cannot drag it the way they drag a mean.
//! The times are then walked against that beat: an event within `jitter` of
//! the next beat (or of the second or third, when beats were missed) is on
//! the beat; an event early of the beat is an extra connection and is
//! skipped without moving the anchor, so the next real check-in still lines
//! up; anything else is off the beat and re-anchors the walk. The group is
//! periodic when enough events are on the beat and few are not.

/// Events closer together than this are one check-in (a beacon that opens
/// two connections per visit, a retry right after a reset).
pub const MERGE_NS: i64 = 50_000_000;
/// Most consecutive beats one gap may skip (a gap of up to this many
/// periods still counts, as missed beats).
pub const MAX_BEATS_PER_GAP: i64 = 3;
/// Largest share of events that may be off the beat or extra.
pub const MAX_OUTLIER_SHARE: f64 = 0.25;
/// Largest share of beats that may be missing.
pub const MAX_MISSED_SHARE: f64 = 0.25;

/// What the walk found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Beat {
    /// The period (median interval), ns.
    pub period_ns: i64,
    /// Check-ins on the beat (the first one included).
    pub on_beat: u64,
    /// Beats with no check-in.
    pub missed: u64,
    /// Check-ins early of the beat (skipped) or off it (re-anchored).
    pub outliers: u64,
}

impl Beat {
    /// Whether this is beaconing: `count` check-ins on the beat, at most a
    /// quarter of the events outliers and a quarter of the beats missed, a
    /// period of at least `min_interval_ns`.
    pub fn periodic(&self, count: u64, min_interval_ns: i64) -> bool {
        #[allow(clippy::cast_precision_loss)]
        let (on, missed, out) = (
            self.on_beat as f64,
            self.missed as f64,
            self.outliers as f64,
        );
        self.period_ns >= min_interval_ns.max(1)
            && self.on_beat >= count
            && out <= MAX_OUTLIER_SHARE * (on + out)
            && missed <= MAX_MISSED_SHARE * (on + missed)
    }
}

/// Walks `times` (ns, any order) against their median interval, with beats
/// allowed to deviate by `jitter` of the period. `None` for fewer than three
/// check-ins.
pub fn assess(times: &[i64], jitter: f64) -> Option<Beat> {
    let mut ts: Vec<i64> = times.to_vec();
    ts.sort_unstable();
    // One check-in per burst.
    ts.dedup_by(|b, a| *b - *a < MERGE_NS);
    if ts.len() < 3 {
        return None;
    }
    let mut iv: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
    let mid = iv.len() / 2;
    let (_, &mut median, _) = iv.select_nth_unstable(mid);
    if median <= 0 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let period = median as f64;
    let mut beat = Beat {
        period_ns: median,
        on_beat: 1,
        missed: 0,
        outliers: 0,
    };
    let mut anchor = ts[0];
    for &t in &ts[1..] {
        #[allow(clippy::cast_precision_loss)]
        let gap = (t - anchor) as f64;
        // Nearest whole number of beats; deviations add up like a random
        // walk, so k beats may be off by jitter·√k periods.
        let k = (gap / period).round().max(1.0);
        let tolerance = jitter * period * k.sqrt();
        if gap < period - jitter * period {
            beat.outliers += 1; // early: an extra connection between beats
        } else if k <= MAX_BEATS_PER_GAP as f64 && (gap - k * period).abs() <= tolerance {
            beat.on_beat += 1;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let skipped = k as u64 - 1;
            beat.missed += skipped;
            anchor = t;
        } else {
            beat.outliers += 1;
            anchor = t;
        }
    }
    Some(beat)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    /// A small deterministic generator (no dependency, same numbers on
    /// every run).
    struct Lcg(u64);
    impl Lcg {
        /// Uniform in [0, 1).
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            #[allow(clippy::cast_precision_loss)]
            let x = (self.0 >> 11) as f64 / (1u64 << 53) as f64;
            x
        }
    }

    /// `n` check-ins every `period` ns, each interval off by up to ±`j`.
    fn beacon(n: usize, period: i64, j: f64, seed: u64) -> Vec<i64> {
        let mut r = Lcg(seed);
        let mut t = 1_700_000_000 * S;
        let mut out = vec![t];
        for _ in 1..n {
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
            let d = (period as f64 * (1.0 + j * (2.0 * r.next() - 1.0))) as i64;
            t += d;
            out.push(t);
        }
        out
    }

    fn fires(times: &[i64], count: u64) -> bool {
        assess(times, 0.25).is_some_and(|b| b.periodic(count, S / 2))
    }

    #[test]
    fn jittered_beacons_fire_from_one_second_to_one_hour() {
        for period in [S, 2 * S, 15 * S, 60 * S, 600 * S, 3600 * S] {
            for seed in 1..50 {
                let t = beacon(10, period, 0.2, seed);
                let b = assess(&t, 0.25);
                assert!(fires(&t, 8), "period {period} seed {seed}: {b:?} on {t:?}");
                let p = b.map_or(0, |b| b.period_ns);
                assert!((p - period).abs() <= period / 4, "period estimate {p}");
            }
        }
    }

    #[test]
    fn a_missed_beat_and_an_extra_connection_do_not_break_the_beat() {
        let mut t = beacon(12, 60 * S, 0.1, 7);
        t.remove(5); // a missed check-in
        let extra = t[2] + 17 * S; // an extra connection between two beats
        t.push(extra);
        let b = assess(&t, 0.25).unwrap();
        assert_eq!(b.missed, 1, "{b:?}");
        assert_eq!(b.outliers, 1, "{b:?}");
        assert_eq!(b.on_beat, 11, "{b:?}");
        assert!(b.periodic(8, S / 2));
    }

    #[test]
    fn random_arrivals_do_not_fire() {
        // Poisson arrivals (exponential gaps), the shape of people browsing,
        // at many rates and seeds.
        for mean in [S, 10 * S, 300 * S] {
            for seed in 1..300 {
                let mut r = Lcg(seed);
                let mut t = 0i64;
                let times: Vec<i64> = (0..32)
                    .map(|_| {
                        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
                        let d = (-(1.0 - r.next()).ln() * mean as f64) as i64;
                        t += d.max(1);
                        t
                    })
                    .collect();
                assert!(
                    !fires(&times, 8),
                    "mean {mean} seed {seed}: {:?}",
                    assess(&times, 0.25)
                );
            }
        }
    }

    #[test]
    fn too_much_jitter_or_too_few_beats_do_not_fire() {
        // Gaps anywhere from 0 to twice the mean are no beat.
        let fired = (1..100)
            .filter(|&s| fires(&beacon(16, 60 * S, 1.0, s), 8))
            .count();
        assert!(fired == 0, "{fired} of 99 uniform-gap series fired");
        // Seven perfect check-ins are one short of eight.
        assert!(!fires(&beacon(7, 60 * S, 0.0, 1), 8));
        assert!(fires(&beacon(8, 60 * S, 0.0, 1), 8));
        // Bursts within 50 ms are one check-in.
        let mut t = beacon(8, 60 * S, 0.0, 1);
        let doubled: Vec<i64> = t.iter().map(|x| x + 10_000_000).collect();
        t.extend(doubled);
        assert_eq!(assess(&t, 0.25).map(|b| b.on_beat), Some(8));
    }

    #[test]
    fn the_minimum_interval_still_applies_when_set() {
        let t = beacon(10, S / 10, 0.0, 1);
        assert!(!fires(&t, 8), "ten per second is below half a second");
        assert!(assess(&t, 0.25).unwrap().periodic(8, 0));
    }
}
