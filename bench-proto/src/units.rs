//! Units as types: byte sizes and durations that parse and print the same way in every
//! flag, log line and report (`64B`, `16KiB`, `1MiB`; `250ms`, `10s`, `2m`). Input may
//! carry decimals (`1.5s`, `1.5KiB`) when they come to a whole number of nanoseconds or
//! bytes; output is always the shortest whole form (`1500ms`, `1536B`).
//!
//! Tables, pages and `--fail-if` use the shorter forms here too: [`format_ns`] (a
//! latency in three figures, `43.1us`), [`parse_ns`] (a latency limit, `1.5ms`),
//! [`format_rate`] (`12k`) and [`format_byte_rate`] (`6.10MB`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a size or duration string did not parse; names the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnitError {
    /// No leading number.
    #[error("{text:?} does not start with a number")]
    NoNumber {
        /// The text given.
        text: String,
    },
    /// The unit is not one we know.
    #[error("{text:?} has unknown unit {unit:?} (use {known})")]
    UnknownUnit {
        /// The text given.
        text: String,
        /// The unit part.
        unit: String,
        /// The units accepted.
        known: &'static str,
    },
    /// A decimal that is not a whole number of bytes (or nanoseconds).
    #[error("{text:?} is not a whole number of bytes or nanoseconds")]
    NotWhole {
        /// The text given.
        text: String,
    },
    /// The value does not fit.
    #[error("{text:?} is too large")]
    Overflow {
        /// The text given.
        text: String,
    },
}

const SIZE_UNITS: &str = "B, KiB, MiB, GiB, kB, MB, GB";
const DURATION_UNITS: &str = "ns, us, ms, s, m, h";

/// A number as written: its whole part and the digits after a decimal point (`1.5` is
/// `(1, "5")`).
struct Number<'a> {
    whole: u64,
    fraction: &'a str,
}

impl Number<'_> {
    /// The number times `scale`, exactly: an error when it is not a whole number of the
    /// base unit (`1.3B`) or does not fit.
    fn scaled(&self, scale: u64, text: &str) -> Result<u64, UnitError> {
        let overflow = || UnitError::Overflow {
            text: text.to_owned(),
        };
        let whole = self.whole.checked_mul(scale).ok_or_else(overflow)?;
        if self.fraction.is_empty() {
            return Ok(whole);
        }
        // Digits past 19 cannot change a u64 result unless they are all zeros.
        let digits = self.fraction.trim_end_matches('0');
        if digits.len() > 19 {
            return Err(UnitError::NotWhole {
                text: text.to_owned(),
            });
        }
        let numerator = digits.parse::<u128>().unwrap_or(0) * u128::from(scale);
        let denominator = 10u128.pow(digits.len() as u32);
        if !numerator.is_multiple_of(denominator) {
            return Err(UnitError::NotWhole {
                text: text.to_owned(),
            });
        }
        let part = u64::try_from(numerator / denominator).map_err(|_| overflow())?;
        whole.checked_add(part).ok_or_else(overflow)
    }
}

fn split_number(text: &str) -> Result<(Number<'_>, &str), UnitError> {
    let trimmed = text.trim();
    let no_number = || UnitError::NoNumber {
        text: text.to_owned(),
    };
    let digits_of = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let digits = digits_of(trimmed);
    if digits == 0 {
        return Err(no_number());
    }
    let whole = trimmed[..digits]
        .parse::<u64>()
        .map_err(|_| UnitError::Overflow {
            text: text.to_owned(),
        })?;
    let mut rest = &trimmed[digits..];
    let mut fraction = "";
    if let Some(after) = rest.strip_prefix('.') {
        let n = digits_of(after);
        if n == 0 {
            return Err(no_number());
        }
        fraction = &after[..n];
        rest = &after[n..];
    }
    Ok((Number { whole, fraction }, rest.trim()))
}

/// A number of bytes.
///
/// ```
/// use bench_proto::ByteSize;
/// let size: ByteSize = "16KiB".parse().unwrap();
/// assert_eq!(size.0, 16384);
/// assert_eq!(size.to_string(), "16KiB");
/// assert_eq!("100".parse::<ByteSize>().unwrap().to_string(), "100B");
/// assert!("12q".parse::<ByteSize>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The size as `usize` (saturating on 32-bit targets).
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl FromStr for ByteSize {
    type Err = UnitError;
    fn from_str(text: &str) -> Result<Self, UnitError> {
        let (number, unit) = split_number(text)?;
        let scale: u64 = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kib" | "k" => 1 << 10,
            "mib" | "m" => 1 << 20,
            "gib" | "g" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            _ => {
                return Err(UnitError::UnknownUnit {
                    text: text.to_owned(),
                    unit: unit.to_owned(),
                    known: SIZE_UNITS,
                });
            }
        };
        number.scaled(scale, text).map(ByteSize)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
            if n != 0 && n.is_multiple_of(1 << shift) {
                return write!(f, "{}{unit}", n >> shift);
            }
        }
        write!(f, "{n}B")
    }
}

/// A duration written with a unit (`250ms`, `10s`, `2m`), or a bare number of seconds
/// (`10`, `0.5`), as wrk's `-d 10` and iperf3's `-t 10` take it. It prints with a unit,
/// and what it prints parses back to the same duration.
///
/// ```
/// use bench_proto::HumanDuration;
/// use std::time::Duration;
/// let d: HumanDuration = "250ms".parse().unwrap();
/// assert_eq!(d.0, Duration::from_millis(250));
/// assert_eq!(d.to_string(), "250ms");
/// assert_eq!("90s".parse::<HumanDuration>().unwrap().to_string(), "90s");
/// assert_eq!("2m".parse::<HumanDuration>().unwrap().to_string(), "2m");
/// assert_eq!("0ms".parse::<HumanDuration>().unwrap().to_string(), "0s");
/// assert_eq!("10".parse::<HumanDuration>().unwrap().0, Duration::from_secs(10));
/// assert_eq!("0.5".parse::<HumanDuration>().unwrap().to_string(), "500ms");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = UnitError;
    fn from_str(text: &str) -> Result<Self, UnitError> {
        let (number, unit) = split_number(text)?;
        let nanos_per: u64 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" | "min" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            // A bare number is seconds, as in wrk's `-d 10` and iperf3's `-t 10`.
            "" => 1_000_000_000,
            _ => {
                return Err(UnitError::UnknownUnit {
                    text: text.to_owned(),
                    unit: unit.to_owned(),
                    known: DURATION_UNITS,
                });
            }
        };
        number
            .scaled(nanos_per, text)
            .map(|ns| HumanDuration(Duration::from_nanos(ns)))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos();
        if ns == 0 {
            return f.write_str("0s");
        }
        let units: [(u128, &str); 5] = [
            (3_600_000_000_000, "h"),
            (60_000_000_000, "m"),
            (1_000_000_000, "s"),
            (1_000_000, "ms"),
            (1_000, "us"),
        ];
        for (per, unit) in units {
            if ns != 0 && ns.is_multiple_of(per) {
                return write!(f, "{}{unit}", ns / per);
            }
        }
        write!(f, "{ns}ns")
    }
}

/// A latency for tables and pages, three significant figures at most: `850ns`,
/// `52.3us`, `41.2ms`, `1.50s` (not [`HumanDuration`]'s exact form: a p99 of
/// 41_234_567 ns reads better as `41.2ms`).
pub fn format_ns(ns: u64) -> String {
    let v = ns as f64;
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.1}us", v / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.1}ms", v / 1e6)
    } else {
        format!("{:.2}s", v / 1e9)
    }
}

/// A rate (per second) for chart axes, short: `850`, `12k`, `1.25M`.
pub fn format_rate(per_s: f64) -> String {
    if per_s >= 1e6 {
        format!("{:.2}M", per_s / 1e6)
    } else if per_s >= 1e3 {
        format!("{:.0}k", per_s / 1e3)
    } else {
        format!("{per_s:.0}")
    }
}

/// A byte rate (per second) for tables, decimal units and three significant figures at
/// most: `850B`, `12.3kB`, `6.10MB`, `1.25GB` (the `/s` is the column's).
pub fn format_byte_rate(bytes_per_s: f64) -> String {
    let v = bytes_per_s.max(0.0);
    let scaled = |div: f64, unit: &str| {
        let x = v / div;
        if x >= 100.0 {
            format!("{x:.0}{unit}")
        } else if x >= 10.0 {
            format!("{x:.1}{unit}")
        } else {
            format!("{x:.2}{unit}")
        }
    };
    if v >= 1e9 {
        scaled(1e9, "GB")
    } else if v >= 1e6 {
        scaled(1e6, "MB")
    } else if v >= 1e3 {
        scaled(1e3, "kB")
    } else {
        format!("{v:.0}B")
    }
}

/// A latency limit in ns, as `--fail-if` takes it: a decimal number and `ns`, `us`
/// (`µs`), `ms` or `s` (`1.5ms` is 1_500_000.0). Fractions of a nanosecond are kept
/// (a limit need not be a whole duration); `None` for anything else.
pub fn parse_ns(text: &str) -> Option<f64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let v: f64 = num.parse().ok()?;
    let scale = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return None,
    };
    Some(v * scale)
}

macro_rules! serde_as_string {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_as_string!(ByteSize);
serde_as_string!(HumanDuration);

/// `#[serde(with = "bench_proto::units::duration_text")]`: a plain `Duration` field written
/// as `"250ms"`, like [`HumanDuration`].
pub mod duration_text {
    use super::*;

    /// Writes the duration as text.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        HumanDuration(*d).serialize(s)
    }

    /// Reads a duration written as text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        HumanDuration::deserialize(d).map(|h| h.0)
    }
}

/// `#[serde(with = "bench_proto::units::option_duration_text")]`: an `Option<Duration>`
/// written as `"250ms"` or `null`.
pub mod option_duration_text {
    use super::*;

    /// Writes the duration as text, or null.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        d.map(HumanDuration).serialize(s)
    }

    /// Reads a duration written as text, or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<HumanDuration>::deserialize(d).map(|h| h.map(|h| h.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_print_with_three_figures_and_limits_parse_with_decimals() {
        assert_eq!(format_ns(850), "850ns");
        assert_eq!(format_ns(43_100), "43.1us");
        assert_eq!(format_ns(4_200_000), "4.2ms");
        assert_eq!(format_ns(1_500_000_000), "1.50s");
        assert_eq!(format_rate(850.4), "850");
        assert_eq!(format_rate(12_345.0), "12k");
        assert_eq!(format_rate(1_250_000.0), "1.25M");
        assert_eq!(parse_ns("1.5ms"), Some(1_500_000.0));
        assert_eq!(parse_ns("20us"), Some(20_000.0));
        assert_eq!(parse_ns("2µs"), Some(2_000.0));
        assert_eq!(parse_ns("3m"), None);
        assert_eq!(parse_ns("ms"), None);
    }

    #[test]
    fn sizes_round_trip_through_text() {
        for n in [0u64, 1, 64, 1000, 1024, 1536, 65536, 1 << 20, 3 << 30] {
            let text = ByteSize(n).to_string();
            assert_eq!(text.parse::<ByteSize>().unwrap(), ByteSize(n), "{text}");
        }
        assert_eq!("4kB".parse::<ByteSize>().unwrap(), ByteSize(4000));
        assert_eq!("4 KiB".parse::<ByteSize>().unwrap(), ByteSize(4096));
    }

    #[test]
    fn bad_sizes_name_the_text() {
        let err = "12q".parse::<ByteSize>().unwrap_err();
        assert!(err.to_string().contains("\"12q\""), "{err}");
        assert!(matches!(
            "KiB".parse::<ByteSize>(),
            Err(UnitError::NoNumber { .. })
        ));
        assert!(matches!(
            "-1".parse::<ByteSize>(),
            Err(UnitError::NoNumber { .. })
        ));
        assert!(matches!(
            "99999999999GiB".parse::<ByteSize>(),
            Err(UnitError::Overflow { .. })
        ));
    }

    #[test]
    fn durations_round_trip_through_text() {
        for text in ["1ns", "5us", "250ms", "10s", "2m", "1h", "1500ms"] {
            let d: HumanDuration = text.parse().unwrap();
            assert_eq!(d.to_string(), text);
        }
        assert_eq!("0".parse::<HumanDuration>().unwrap().0, Duration::ZERO);
        assert!("10 parsecs".parse::<HumanDuration>().is_err());
    }

    #[test]
    fn bare_numbers_are_seconds_and_print_back_with_a_unit() {
        let d = |t: &str| t.parse::<HumanDuration>().unwrap();
        assert_eq!(d("10").0, Duration::from_secs(10));
        assert_eq!(d("0.5").0, Duration::from_millis(500));
        assert_eq!(d("1.5").0, Duration::from_millis(1500));
        assert_eq!(d(" 3 ").0, Duration::from_secs(3));
        for text in ["10", "0.5", "1.5", "90", "0.000001"] {
            let printed = d(text).to_string();
            assert_eq!(d(&printed), d(text), "{text} printed as {printed}");
        }
        assert_eq!(d("10").to_string(), "10s");
        assert!(matches!(
            "0.0000000001".parse::<HumanDuration>(),
            Err(UnitError::NotWhole { .. })
        ));
        assert!(matches!(
            "-1".parse::<HumanDuration>(),
            Err(UnitError::NoNumber { .. })
        ));
    }

    #[test]
    fn decimals_parse_exactly_and_print_as_before() {
        let d = |t: &str| t.parse::<HumanDuration>().unwrap();
        assert_eq!(d("1.5s").0, Duration::from_millis(1500));
        assert_eq!(d("1.5s").to_string(), "1500ms");
        assert_eq!(d("0.25ms").to_string(), "250us");
        assert_eq!(d("2.0s").to_string(), "2s");
        assert_eq!(d("0.5m").to_string(), "30s");
        assert_eq!(d("0.0").0, Duration::ZERO);
        let b = |t: &str| t.parse::<ByteSize>().unwrap();
        assert_eq!(b("1.5KiB"), ByteSize(1536));
        assert_eq!(b("1.5KiB").to_string(), "1536B");
        assert_eq!(b("0.5MiB").to_string(), "512KiB");
        assert_eq!(b("2.5kB"), ByteSize(2500));
        assert!(matches!(
            "1.3B".parse::<ByteSize>(),
            Err(UnitError::NotWhole { .. })
        ));
        assert!(matches!(
            "1.0000000001ns".parse::<HumanDuration>(),
            Err(UnitError::NotWhole { .. })
        ));
        for bad in [".5s", "1.s", "1..5s", "1.5x"] {
            assert!(bad.parse::<HumanDuration>().is_err(), "{bad}");
        }
        let err = "1.5q".parse::<ByteSize>().unwrap_err().to_string();
        assert!(err.contains("\"1.5q\"") && err.contains("\"q\""), "{err}");
    }

    #[test]
    fn byte_rates_print_in_three_figures() {
        assert_eq!(format_byte_rate(0.0), "0B");
        assert_eq!(format_byte_rate(850.4), "850B");
        assert_eq!(format_byte_rate(12_345.0), "12.3kB");
        assert_eq!(format_byte_rate(6_100_000.0), "6.10MB");
        assert_eq!(format_byte_rate(250_000_000.0), "250MB");
        assert_eq!(format_byte_rate(1_250_000_000.0), "1.25GB");
    }

    #[test]
    fn units_serialize_as_their_text() {
        assert_eq!(
            serde_json::to_string(&ByteSize(65536)).unwrap(),
            "\"64KiB\""
        );
        let d: HumanDuration = serde_json::from_str("\"30s\"").unwrap();
        assert_eq!(d.0, Duration::from_secs(30));
    }
}
