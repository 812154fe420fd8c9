//! Units as types: byte sizes and durations that parse and print the same way in every
//! flag, log line and report (`64B`, `16KiB`, `1MiB`; `250ms`, `10s`, `2m`).

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
    /// The value does not fit.
    #[error("{text:?} is too large")]
    Overflow {
        /// The text given.
        text: String,
    },
}

const SIZE_UNITS: &str = "B, KiB, MiB, GiB, kB, MB, GB";
const DURATION_UNITS: &str = "ns, us, ms, s, m, h";

fn split_number(text: &str) -> Result<(u64, &str), UnitError> {
    let trimmed = text.trim();
    let digits = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    if digits == 0 {
        return Err(UnitError::NoNumber {
            text: text.to_owned(),
        });
    }
    let number = trimmed[..digits]
        .parse::<u64>()
        .map_err(|_| UnitError::Overflow {
            text: text.to_owned(),
        })?;
    Ok((number, trimmed[digits..].trim()))
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
        number
            .checked_mul(scale)
            .map(ByteSize)
            .ok_or_else(|| UnitError::Overflow {
                text: text.to_owned(),
            })
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

/// A duration written with a unit.
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
            "" if number == 0 => 1,
            _ => {
                return Err(UnitError::UnknownUnit {
                    text: text.to_owned(),
                    unit: unit.to_owned(),
                    known: DURATION_UNITS,
                });
            }
        };
        number
            .checked_mul(nanos_per)
            .map(|ns| HumanDuration(Duration::from_nanos(ns)))
            .ok_or_else(|| UnitError::Overflow {
                text: text.to_owned(),
            })
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
        assert!(
            "10".parse::<HumanDuration>().is_err(),
            "a bare non-zero number is ambiguous"
        );
        assert!("10 parsecs".parse::<HumanDuration>().is_err());
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
