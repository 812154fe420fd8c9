//! Parsing one `--impair` spec into [`Impairments`] ([`Impairments::add`]), with the
//! value forms it takes: percentages, durations, sizes (the wirebench units) and rates
//! (`10Mbit`, `500Kbit`, `2MB/s`, `1MiB/s`, with `,burst=SIZE` and, for UDP,
//! `,queue=SIZE` in any order). Which transport a spec fits is the
//! config check's business.

use bench_proto::ByteSize;

use super::{ImpairError, Impairments, WayImpairments};

/// What one spec sets on each direction it names.
type Setter = Box<dyn Fn(&mut WayImpairments)>;

impl Impairments {
    /// Adds one `--impair` spec.
    ///
    /// ```
    /// use bench_server::proxy::Impairments;
    /// let mut imp = Impairments::default();
    /// imp.add("up:loss=1%").unwrap();
    /// imp.add("dup=0.5%").unwrap();
    /// assert_eq!((imp.up.loss_ppm, imp.down.loss_ppm), (10_000, 0));
    /// assert_eq!((imp.up.dup_ppm, imp.down.dup_ppm), (5_000, 5_000));
    /// imp.add("down:latency=5ms").unwrap();
    /// assert_eq!(imp.down.latency_us, 5_000);
    /// imp.add("up:rate=10Mbit").unwrap();
    /// assert_eq!(imp.up.rate_bytes_per_s, Some(1_250_000));
    /// assert!(imp.add("rate=fast").is_err());
    /// ```
    ///
    /// # Errors
    /// [`ImpairError`], naming the spec.
    pub fn add(&mut self, spec: &str) -> Result<(), ImpairError> {
        let (ways, rest) = match spec.split_once(':') {
            Some(("up", rest)) => ([true, false], rest),
            Some(("down", rest)) => ([false, true], rest),
            _ => ([true, true], spec),
        };
        let (name, value) = rest
            .split_once('=')
            .ok_or_else(|| ImpairError::Malformed(spec.to_owned()))?;
        let bad = |why| ImpairError::BadValue {
            spec: spec.to_owned(),
            why,
        };
        let set = setter(name, value)
            .ok_or_else(|| ImpairError::Unknown(spec.to_owned()))?
            .map_err(bad)?;
        for (way, on) in [&mut self.up, &mut self.down].into_iter().zip(ways) {
            if on {
                set(way);
            }
        }
        Ok(())
    }
}

/// What `name=value` sets: `None` for an unknown name, the reason for a bad value.
fn setter(name: &str, value: &str) -> Option<Result<Setter, &'static str>> {
    Some(match name {
        "loss" | "dup" | "corrupt" => percent(value, name),
        "reset" => reset(value),
        "latency" | "jitter" => delay(value, name),
        "reorder" => reorder(value),
        "rate" => rate(value),
        "slice" => slice(value),
        "stall" => stall(value),
        "close-slowly" => close_slowly(value),
        _ => return None,
    })
}

fn percent(value: &str, name: &str) -> Result<Setter, &'static str> {
    let ppm = percent_ppm(value).ok_or("expected a percentage 0%..100%")?;
    Ok(match name {
        "loss" => Box::new(move |w| w.loss_ppm = ppm),
        "dup" => Box::new(move |w| w.dup_ppm = ppm),
        _ => Box::new(move |w| w.corrupt_ppm = ppm),
    })
}

fn reset(value: &str) -> Result<Setter, &'static str> {
    let bytes = value
        .strip_prefix("after:")
        .and_then(size)
        .ok_or("expected after:SIZE, e.g. after:100KiB")?;
    Ok(Box::new(move |w| w.reset_after = Some(bytes)))
}

fn delay(value: &str, name: &str) -> Result<Setter, &'static str> {
    let us = micros(value).ok_or("expected a duration, e.g. 5ms")?;
    Ok(if name == "latency" {
        Box::new(move |w| w.latency_us = us)
    } else {
        Box::new(move |w| w.jitter_us = us)
    })
}

fn reorder(value: &str) -> Result<Setter, &'static str> {
    const WHY: &str = "expected P%[,gap=DURATION]";
    let (share, gap) = value.split_once(",gap=").unwrap_or((value, "10ms"));
    let ppm = percent_ppm(share).ok_or(WHY)?;
    let gap = micros(gap).ok_or(WHY)?;
    Ok(Box::new(move |w| {
        w.reorder_ppm = ppm;
        w.gap_us = gap;
    }))
}

fn rate(value: &str) -> Result<Setter, &'static str> {
    const WHY: &str =
        "expected a rate of at least 8bit, e.g. 10Mbit, 500Kbit or 2MB/s[,burst=SIZE][,queue=SIZE]";
    let mut parts = value.split(',');
    let per_s = parts.next().and_then(bytes_per_s).ok_or(WHY)?;
    let (mut burst, mut queue) = (None, None);
    for option in parts {
        match option.split_once('=') {
            Some(("burst", b)) if burst.is_none() => {
                burst = Some(
                    size(b)
                        .filter(|&b| b > 0)
                        .ok_or("expected a burst of at least 1B, e.g. rate=10Mbit,burst=64KiB")?,
                );
            }
            Some(("queue", q)) if queue.is_none() => {
                queue = Some(size(q).ok_or(
                    "expected a queue size (UDP), e.g. rate=10Mbit,queue=64KiB (0B: drop what finds too few tokens)",
                )?);
            }
            _ => return Err(WHY),
        }
    }
    Ok(Box::new(move |w| {
        w.rate_bytes_per_s = Some(per_s);
        w.burst = burst;
        w.rate_queue = queue;
    }))
}

fn slice(value: &str) -> Result<Setter, &'static str> {
    const WHY: &str = "expected a size of at least 1B, e.g. 64B[,gap=1ms]";
    let (bytes, gap) = value.split_once(",gap=").unwrap_or((value, "0s"));
    let bytes = size(bytes).filter(|&b| b > 0).ok_or(WHY)?;
    let gap = micros(gap).ok_or(WHY)?;
    Ok(Box::new(move |w| {
        w.slice = Some(bytes);
        w.slice_gap_us = gap;
    }))
}

fn stall(value: &str) -> Result<Setter, &'static str> {
    let parsed = value
        .strip_prefix("after:")
        .and_then(|v| v.split_once(",for:"))
        .and_then(|(after, dur)| Some((size(after)?, micros(dur).filter(|&us| us > 0)?)));
    let (after, us) =
        parsed.ok_or("expected after:SIZE,for:DURATION (above zero), e.g. after:1MiB,for:2s")?;
    Ok(Box::new(move |w| {
        w.stall_after = Some(after);
        w.stall_us = us;
    }))
}

fn close_slowly(value: &str) -> Result<Setter, &'static str> {
    let us = micros(value)
        .filter(|&us| us > 0)
        .ok_or("expected a duration above zero, e.g. 500ms")?;
    Ok(Box::new(move |w| w.close_slowly_us = us))
}

/// A wirebench size (`64B`, `16KiB`, `1MB`) in bytes.
fn size(value: &str) -> Option<u64> {
    value.parse::<ByteSize>().ok().map(|s| s.0)
}

/// `5ms`, `250us`, `1s` in microseconds (at most an hour; a duration above zero but
/// under a microsecond is refused rather than read as 0, which would turn it off).
fn micros(value: &str) -> Option<u64> {
    let d: bench_proto::HumanDuration = value.parse().ok()?;
    let us = d.0.as_micros() as u64;
    (d.0 <= std::time::Duration::from_secs(3600) && (us > 0 || d.0.is_zero())).then_some(us)
}

/// `1%`, `0.1%`, `100%` as parts per million.
fn percent_ppm(value: &str) -> Option<u32> {
    let p: f64 = value.strip_suffix('%')?.parse().ok()?;
    let ppm = (p * 10_000.0).round() as u32;
    // Above zero as written but under a part per million: refused, not read as off.
    ((0.0..=100.0).contains(&p) && (ppm > 0 || p == 0.0)).then_some(ppm)
}

/// A rate in bytes per second: bits (`800bit`, `500Kbit`, `10Mbit`, `1Gbit`, decimal
/// prefixes) or a size per second (`2MB/s`, `1MiB/s`, `64KiB/s`); at least 1 B/s.
fn bytes_per_s(value: &str) -> Option<u64> {
    if let Some(size_text) = value.strip_suffix("/s") {
        return size(size_text).filter(|&b| b > 0);
    }
    let lower = value.to_ascii_lowercase();
    let (number, scale) = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)]
        .into_iter()
        .find_map(|(unit, scale)| Some((lower.strip_suffix(unit)?, scale)))?;
    let bits: f64 = number.parse().ok()?;
    let per_s = bits * scale / 8.0;
    (per_s.is_finite() && (1.0..=1e12).contains(&per_s)).then_some(per_s as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_their_direction_or_apply_both_ways() {
        let mut imp = Impairments::default();
        imp.add("down:corrupt=0.1%").unwrap();
        imp.add("reset=after:100KiB").unwrap();
        assert_eq!((imp.up.corrupt_ppm, imp.down.corrupt_ppm), (0, 1000));
        assert_eq!(imp.up.reset_after, Some(100 * 1024));
        assert_eq!(imp.down.reset_after, Some(100 * 1024));
    }

    #[test]
    fn tcp_shaping_specs_parse_to_their_fields() {
        let mut imp = Impairments::default();
        imp.add("up:rate=1Mbit").unwrap();
        imp.add("down:rate=2MB/s,burst=64KiB").unwrap();
        imp.add("up:slice=64B,gap=1ms").unwrap();
        imp.add("down:slice=1KiB").unwrap();
        imp.add("up:stall=after:1MiB,for:2s").unwrap();
        imp.add("close-slowly=500ms").unwrap();
        let (up, down) = (imp.up, imp.down);
        assert_eq!(
            (up.rate_bytes_per_s, up.burst_bytes()),
            (Some(125_000), Some(1250))
        );
        assert_eq!(
            (down.rate_bytes_per_s, down.burst),
            (Some(2_000_000), Some(65536))
        );
        assert_eq!((up.slice, up.slice_gap_us), (Some(64), 1000));
        assert_eq!((down.slice, down.slice_gap_us), (Some(1024), 0));
        assert_eq!((up.stall_after, up.stall_us), (Some(1 << 20), 2_000_000));
        assert_eq!(down.stall_after, None);
        assert_eq!(
            (up.close_slowly_us, down.close_slowly_us),
            (500_000, 500_000)
        );
        assert!(up.has_shaping() && up.has_tcp_only() && !up.has_udp_only());
        assert_eq!(up.tcp_words(), "slice stall close-slowly");
    }

    #[test]
    fn udp_rate_takes_a_queue_bound_and_is_not_tcp_only() {
        let mut imp = Impairments::default();
        imp.add("down:rate=800Kbit,queue=4KiB,burst=2KiB").unwrap();
        imp.add("up:rate=1Mbit").unwrap();
        let (up, down) = (imp.up, imp.down);
        assert_eq!(
            (down.rate_bytes_per_s, down.burst, down.rate_queue),
            (Some(100_000), Some(2048), Some(4096))
        );
        assert_eq!(down.rate_queue_bytes(), Some(4096));
        assert_eq!(up.rate_queue_bytes(), Some(64 * 1024));
        assert_eq!(WayImpairments::default().rate_queue_bytes(), None);
        assert!(!up.has_tcp_only() && !up.has_udp_only() && up.has_shaping());
        // The queue is UDP's: a TCP relay refuses it by name.
        assert!(down.has_udp_only());
        assert_eq!(down.udp_words(), "rate queue=4KiB");
        imp.add("down:rate=1Mbit,queue=0B").unwrap();
        assert_eq!(imp.down.rate_queue_bytes(), Some(0));
    }

    #[test]
    fn rates_take_bits_or_bytes_per_second() {
        for (text, per_s) in [
            ("8bit", 1),
            ("500Kbit", 62_500),
            ("10Mbit", 1_250_000),
            ("1.5Gbit", 187_500_000),
            ("64KiB/s", 65_536),
            ("2MB/s", 2_000_000),
        ] {
            assert_eq!(bytes_per_s(text), Some(per_s), "{text}");
        }
        for text in ["fast", "1bit", "0Mbit", "10Mbps", "0B/s", "-1Mbit"] {
            assert_eq!(bytes_per_s(text), None, "{text}");
        }
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let mut imp = Impairments::default();
        for (spec, says) in [
            ("loss", "expected [up:|down:]NAME=VALUE"),
            ("loss=200%", "expected a percentage"),
            ("loss=1", "expected a percentage"),
            ("reset=100KiB", "expected after:SIZE"),
            ("rate=fast", "expected a rate"),
            ("rate=1Mbit,burst=0B", "expected a burst"),
            ("rate=1Mbit,queue=lots", "expected a queue size"),
            ("rate=1Mbit,depth=1KiB", "expected a rate"),
            ("rate=1Mbit,burst=1KiB,burst=2KiB", "expected a rate"),
            ("slice=0B", "expected a size of at least 1B"),
            ("slice=64B,gap=soon", "expected a size"),
            ("stall=after:x", "expected after:SIZE,for:DURATION"),
            ("stall=after:1MiB", "expected after:SIZE,for:DURATION"),
            ("close-slowly=0s", "expected a duration above zero"),
            ("latency=soon", "expected a duration"),
            ("reorder=5", "expected P%"),
            ("teleport=1", "unknown impairment"),
        ] {
            let text = imp.add(spec).unwrap_err().to_string();
            assert!(text.contains(says), "{spec}: {text}");
            assert!(text.contains(spec), "{spec}: {text}");
        }
        assert!(imp.is_off());
    }

    #[test]
    fn values_that_would_round_to_nothing_are_refused_not_turned_off() {
        for spec in [
            "latency=500ns",
            "jitter=0.9us",
            "loss=0.00001%",
            "reorder=5%,gap=100ns",
            "stall=after:1MiB,for:0s",
        ] {
            assert!(
                Impairments::default().add(spec).is_err(),
                "{spec} was taken"
            );
        }
        let mut imp = Impairments::default();
        imp.add("latency=0s").unwrap();
        imp.add("loss=0%").unwrap();
        imp.add("jitter=1us").unwrap();
        assert_eq!(
            (imp.up.latency_us, imp.up.loss_ppm, imp.up.jitter_us),
            (0, 0, 1)
        );
    }
}
