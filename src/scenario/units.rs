//! The small value grammars of a scenario file: durations (`"250ms"`), byte
//! sizes (`"1KiB"`), request rates, and object key patterns (`"obj-{0..99}"`).
//!
//! Pure functions over values: no TOML, no spans, no limits that depend on the
//! rest of the scenario. Errors say what is wrong with the value and, where it
//! helps, the byte range inside it so the caller can put the caret there.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

/// Why a `<number><unit>` value (a duration or a byte size) did not parse.
///
/// Messages read after "invalid duration \"10x\": ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// The string is empty or only spaces.
    #[error("it is empty")]
    Empty,
    /// A leading minus sign.
    #[error("it is negative")]
    Negative,
    /// The value does not start with a digit.
    #[error("it does not start with a number")]
    NotANumber,
    /// A fraction where only whole numbers make sense (byte sizes).
    #[error("it has a fraction; use a whole number")]
    Fraction {
        /// Byte range of the fractional part.
        at: Range<usize>,
    },
    /// A number with nothing after it.
    #[error("it has no unit")]
    MissingUnit,
    /// A unit this grammar does not know.
    #[error("unknown unit \"{unit}\"")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// Byte range of the unit.
        at: Range<usize>,
    },
    /// The value does not fit the type it is stored in.
    #[error("it is too large")]
    TooLarge,
}

impl UnitError {
    /// Byte range inside the value that the error is about, if narrower than
    /// the whole value.
    pub fn at(&self) -> Option<Range<usize>> {
        match self {
            Self::Fraction { at } | Self::UnknownUnit { at, .. } => Some(at.clone()),
            _ => None,
        }
    }
}

/// A value split into its number and unit.
struct NumberUnit<'a> {
    whole: &'a str,
    fraction: Option<(&'a str, Range<usize>)>,
    unit: &'a str,
    unit_at: Range<usize>,
}

fn split_number_unit(text: &str) -> Result<NumberUnit<'_>, UnitError> {
    let leading = text.len() - text.trim_start().len();
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(UnitError::Empty);
    }
    if trimmed.starts_with('-') {
        return Err(UnitError::Negative);
    }
    let whole_len = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    if whole_len == 0 {
        return Err(UnitError::NotANumber);
    }
    let (whole, mut rest) = trimmed.split_at(whole_len);
    let mut fraction = None;
    if let Some(after_dot) = rest.strip_prefix('.') {
        let digits = after_dot
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after_dot.len());
        if digits == 0 {
            return Err(UnitError::NotANumber);
        }
        let start = leading + whole_len;
        fraction = Some((&after_dot[..digits], start..start + 1 + digits));
        rest = &after_dot[digits..];
    }
    let unit = rest.trim_start();
    if unit.is_empty() {
        return Err(UnitError::MissingUnit);
    }
    let unit_start = leading + (trimmed.len() - unit.len());
    Ok(NumberUnit {
        whole,
        fraction,
        unit,
        unit_at: unit_start..unit_start + unit.len(),
    })
}

/// Parse a duration such as `"250ms"`, `"3s"`, `"1.5s"`, `"2m"` or `"1h"`.
///
/// One number, an optional fraction, one unit (`ms`, `s`, `m`, `h`); spaces
/// around the unit are tolerated. A bare number is refused: `30` could mean
/// seconds or milliseconds, and a wrong guess silently changes a test.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let parts = split_number_unit(text)?;
    let unit_ns: u128 = match parts.unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        other => {
            return Err(UnitError::UnknownUnit {
                unit: other.to_owned(),
                at: parts.unit_at,
            });
        }
    };
    let whole: u128 = parts.whole.parse().map_err(|_| UnitError::TooLarge)?;
    let mut nanos = whole.checked_mul(unit_ns).ok_or(UnitError::TooLarge)?;
    if let Some((digits, _)) = parts.fraction {
        // Below a nanosecond is noise: keep at most 9 fractional digits.
        let digits = &digits[..digits.len().min(9)];
        let scale = 10u128.pow(digits.len() as u32);
        let numerator: u128 = digits.parse().map_err(|_| UnitError::NotANumber)?;
        nanos += numerator * unit_ns / scale;
    }
    let nanos = u64::try_from(nanos).map_err(|_| UnitError::TooLarge)?;
    Ok(Duration::from_nanos(nanos))
}

/// Parse a byte size such as `"512B"`, `"1KiB"` or `"16MiB"`.
///
/// Binary units only, and whole numbers only, so a size is always an exact
/// number of bytes (`KB` vs `KiB` ambiguity is refused rather than guessed).
pub fn parse_byte_size(text: &str) -> Result<u64, UnitError> {
    let parts = split_number_unit(text)?;
    if let Some((_, at)) = parts.fraction {
        return Err(UnitError::Fraction { at });
    }
    let unit_bytes: u64 = match parts.unit {
        "B" => 1,
        "KiB" => 1024,
        "MiB" => 1024 * 1024,
        other => {
            return Err(UnitError::UnknownUnit {
                unit: other.to_owned(),
                at: parts.unit_at,
            });
        }
    };
    let whole: u64 = parts.whole.parse().map_err(|_| UnitError::TooLarge)?;
    whole.checked_mul(unit_bytes).ok_or(UnitError::TooLarge)
}

/// Parse a rate written with its unit: `"5000/s"`, `"300/min"`, `"36000/h"`
/// (fractions allowed), as requests per second. Range checks are
/// [`check_rate_per_s`]'s.
pub fn parse_rate_per_s(text: &str) -> Result<f64, UnitError> {
    let Some(slash) = text.find('/') else {
        return Err(UnitError::MissingUnit);
    };
    let (number, unit) = (text[..slash].trim(), text[slash + 1..].trim());
    let per_s = match unit {
        "s" => 1.0,
        "min" => 1.0 / 60.0,
        "h" => 1.0 / 3600.0,
        other => {
            return Err(UnitError::UnknownUnit {
                unit: other.to_owned(),
                at: slash + 1..text.len(),
            });
        }
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(UnitError::NotANumber);
    }
    let value: f64 = number.parse().map_err(|_| UnitError::NotANumber)?;
    Ok(value * per_s)
}

/// The highest request rate one `[[load]]` entry may ask for, per second
/// across the whole fleet.
pub const MAX_RATE_PER_S: f64 = 1_000_000.0;

/// Why a request rate is refused. Messages read after "rate ".
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RateError {
    /// `nan` or `inf`, which TOML allows.
    #[error("must be a finite number (got {0})")]
    NotFinite(f64),
    /// Zero or negative.
    #[error("must be greater than 0 (got {0})")]
    NotPositive(f64),
    /// Above [`MAX_RATE_PER_S`].
    #[error("must be at most {max} per second (got {0})", max = MAX_RATE_PER_S)]
    TooHigh(f64),
}

/// Check a request rate in requests per second: finite, above zero, at most
/// [`MAX_RATE_PER_S`] (a harness on one machine cannot pace more, and a typo
/// of three extra zeros should not reach a real endpoint).
pub fn check_rate_per_s(rate_per_s: f64) -> Result<f64, RateError> {
    if !rate_per_s.is_finite() {
        Err(RateError::NotFinite(rate_per_s))
    } else if rate_per_s <= 0.0 {
        Err(RateError::NotPositive(rate_per_s))
    } else if rate_per_s > MAX_RATE_PER_S {
        Err(RateError::TooHigh(rate_per_s))
    } else {
        Ok(rate_per_s)
    }
}

/// S3's limit on an object key's length, in bytes of UTF-8.
pub const MAX_KEY_LEN_BYTES: usize = 1024;

/// A set of object keys written as literal text with at most one numeric range:
/// `"obj-{0..99}"` is `obj-0` … `obj-99`; `"index.html"` is that one key.
///
/// The range is inclusive at both ends, as written. Numbers are not padded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPattern {
    prefix: String,
    range: Option<(u32, u32)>,
    suffix: String,
}

/// Why a key pattern did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyPatternError {
    /// An empty pattern names no key.
    #[error("it is empty")]
    Empty,
    /// `{` with no matching `}`.
    #[error("`{{` is never closed")]
    Unclosed {
        /// Byte range of the `{`.
        at: Range<usize>,
    },
    /// `}` with no `{` before it.
    #[error("`}}` has no matching `{{`")]
    UnmatchedClose {
        /// Byte range of the `}`.
        at: Range<usize>,
    },
    /// Braces that do not hold `A..B`.
    #[error("a range must look like {{A..B}} with whole numbers A and B")]
    BadRange {
        /// Byte range of the braces and their content.
        at: Range<usize>,
    },
    /// A bound with leading zeros, which would suggest padding that is not done.
    #[error("range bounds cannot have leading zeros (keys are not padded)")]
    LeadingZero {
        /// Byte range of the bound.
        at: Range<usize>,
    },
    /// A bound above `u32::MAX`.
    #[error("range bound is larger than {max}", max = u32::MAX)]
    BoundTooLarge {
        /// Byte range of the bound.
        at: Range<usize>,
    },
    /// `{B..A}` with `B > A`.
    #[error("range {{{start}..{end}}} is reversed: the start must not be above the end")]
    Reversed {
        /// The first bound.
        start: u32,
        /// The second bound.
        end: u32,
        /// Byte range of the braces and their content.
        at: Range<usize>,
    },
    /// More than one range.
    #[error("only one {{A..B}} range is allowed")]
    TooManyRanges {
        /// Byte range of the second range's `{`.
        at: Range<usize>,
    },
    /// A control character, which S3 clients mangle.
    #[error("it contains a control character")]
    ControlCharacter {
        /// Byte range of the character.
        at: Range<usize>,
    },
    /// The longest key would exceed [`MAX_KEY_LEN_BYTES`].
    #[error("its longest key is {len} bytes, more than S3's {max}", max = MAX_KEY_LEN_BYTES)]
    TooLong {
        /// Length of the longest key in bytes.
        len: usize,
    },
}

impl KeyPatternError {
    /// Byte range inside the pattern that the error is about, if any.
    pub fn at(&self) -> Option<Range<usize>> {
        match self {
            Self::Unclosed { at }
            | Self::UnmatchedClose { at }
            | Self::BadRange { at }
            | Self::LeadingZero { at }
            | Self::BoundTooLarge { at }
            | Self::Reversed { at, .. }
            | Self::TooManyRanges { at }
            | Self::ControlCharacter { at } => Some(at.clone()),
            Self::Empty | Self::TooLong { .. } => None,
        }
    }
}

impl KeyPattern {
    /// Parse `text`; see the type's documentation for the grammar.
    pub fn parse(text: &str) -> Result<Self, KeyPatternError> {
        if text.is_empty() {
            return Err(KeyPatternError::Empty);
        }
        if let Some((i, c)) = text.char_indices().find(|(_, c)| c.is_control()) {
            return Err(KeyPatternError::ControlCharacter {
                at: i..i + c.len_utf8(),
            });
        }
        let mut found: Option<(Range<usize>, u32, u32)> = None;
        let mut index = 0;
        while let Some(offset) = text[index..].find(['{', '}']) {
            let open = index + offset;
            if text[open..].starts_with('}') {
                return Err(KeyPatternError::UnmatchedClose { at: open..open + 1 });
            }
            let Some(close_offset) = text[open + 1..].find('}') else {
                return Err(KeyPatternError::Unclosed { at: open..open + 1 });
            };
            let close = open + 1 + close_offset;
            if found.is_some() {
                return Err(KeyPatternError::TooManyRanges { at: open..open + 1 });
            }
            let braces = open..close + 1;
            let inner = &text[open + 1..close];
            let Some((start_text, end_text)) = inner.split_once("..") else {
                return Err(KeyPatternError::BadRange { at: braces });
            };
            let start = parse_bound(start_text, open + 1, &braces)?;
            let end = parse_bound(end_text, open + 1 + start_text.len() + 2, &braces)?;
            if start > end {
                return Err(KeyPatternError::Reversed {
                    start,
                    end,
                    at: braces,
                });
            }
            found = Some((braces, start, end));
            index = close + 1;
        }
        let pattern = match found {
            None => Self {
                prefix: text.to_owned(),
                range: None,
                suffix: String::new(),
            },
            Some((braces, start, end)) => Self {
                prefix: text[..braces.start].to_owned(),
                range: Some((start, end)),
                suffix: text[braces.end..].to_owned(),
            },
        };
        let len = pattern.max_key_len_bytes();
        if len > MAX_KEY_LEN_BYTES {
            return Err(KeyPatternError::TooLong { len });
        }
        Ok(pattern)
    }

    /// How many keys the pattern names (at least 1).
    pub fn len(&self) -> u64 {
        match self.range {
            None => 1,
            Some((start, end)) => u64::from(end) - u64::from(start) + 1,
        }
    }

    /// Always false: a pattern names at least one key. Present because a
    /// `len` without it surprises readers (and clippy).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The `i`-th key, `0 <= i < len()`, in range order.
    ///
    /// # Panics
    /// If `i >= len()`: callers draw `i` from `0..len()`, so anything else is
    /// a bug in the caller, not bad input.
    pub fn key(&self, i: u64) -> String {
        assert!(i < self.len(), "key index {i} out of range for {self}");
        match self.range {
            None => self.prefix.clone(),
            Some((start, _)) => format!("{}{}{}", self.prefix, u64::from(start) + i, self.suffix),
        }
    }

    /// Every key, in order. Meant for seeding small buckets.
    pub fn keys(&self) -> impl Iterator<Item = String> + '_ {
        (0..self.len()).map(|i| self.key(i))
    }

    /// Length in bytes of the longest key the pattern names.
    pub fn max_key_len_bytes(&self) -> usize {
        let digits = self.range.map_or(0, |(_, end)| end.to_string().len());
        self.prefix.len() + digits + self.suffix.len()
    }
}

fn parse_bound(text: &str, offset: usize, braces: &Range<usize>) -> Result<u32, KeyPatternError> {
    let at = offset..offset + text.len().max(1);
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(KeyPatternError::BadRange { at: braces.clone() });
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(KeyPatternError::LeadingZero { at });
    }
    text.parse()
        .map_err(|_| KeyPatternError::BoundTooLarge { at })
}

impl fmt::Display for KeyPattern {
    /// The pattern as it would be written in a scenario file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.range {
            None => write!(f, "{}", self.prefix),
            Some((start, end)) => write!(f, "{}{{{start}..{end}}}{}", self.prefix, self.suffix),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_with_units() {
        assert_eq!(parse_rate_per_s("5000/s"), Ok(5000.0));
        assert_eq!(parse_rate_per_s("90/min"), Ok(1.5));
        assert_eq!(parse_rate_per_s("7200/h"), Ok(2.0));
        assert_eq!(parse_rate_per_s("12.5 / s"), Ok(12.5));
        assert_eq!(parse_rate_per_s("150"), Err(UnitError::MissingUnit));
        assert_eq!(parse_rate_per_s("x/s"), Err(UnitError::NotANumber));
        assert_eq!(parse_rate_per_s("-5/s"), Err(UnitError::NotANumber));
        assert!(matches!(
            parse_rate_per_s("5/day"),
            Err(UnitError::UnknownUnit { unit, at }) if unit == "day" && at == (2..5)
        ));
    }

    #[test]
    fn durations() {
        let ok = [
            ("250ms", Duration::from_millis(250)),
            ("3s", Duration::from_secs(3)),
            ("2m", Duration::from_secs(120)),
            ("1h", Duration::from_secs(3600)),
            ("1.5s", Duration::from_millis(1500)),
            ("0s", Duration::ZERO),
            (" 10 s ", Duration::from_secs(10)),
            ("0.25ms", Duration::from_micros(250)),
        ];
        for (text, expected) in ok {
            assert_eq!(parse_duration(text), Ok(expected), "{text:?}");
        }
        let bad = [
            ("", UnitError::Empty),
            ("10", UnitError::MissingUnit),
            ("-5s", UnitError::Negative),
            ("s", UnitError::NotANumber),
            ("1.s", UnitError::NotANumber),
            (
                "10x",
                UnitError::UnknownUnit {
                    unit: "x".into(),
                    at: 2..3,
                },
            ),
            (
                "2min",
                UnitError::UnknownUnit {
                    unit: "min".into(),
                    at: 1..4,
                },
            ),
            ("99999999999999999999999h", UnitError::TooLarge),
            ("9999999999h", UnitError::TooLarge),
        ];
        for (text, expected) in bad {
            assert_eq!(parse_duration(text), Err(expected), "{text:?}");
        }
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size("0B"), Ok(0));
        assert_eq!(parse_byte_size("1KiB"), Ok(1024));
        assert_eq!(parse_byte_size("16MiB"), Ok(16 << 20));
        assert_eq!(
            parse_byte_size("1.5KiB"),
            Err(UnitError::Fraction { at: 1..3 })
        );
        assert_eq!(
            parse_byte_size("1KB"),
            Err(UnitError::UnknownUnit {
                unit: "KB".into(),
                at: 1..3
            })
        );
        assert_eq!(parse_byte_size("1024"), Err(UnitError::MissingUnit));
    }

    #[test]
    fn rates() {
        assert_eq!(check_rate_per_s(12.5), Ok(12.5));
        assert_eq!(check_rate_per_s(1_000_000.0), Ok(1_000_000.0));
        assert_eq!(
            check_rate_per_s(-5.0).unwrap_err().to_string(),
            "must be greater than 0 (got -5)"
        );
        assert!(matches!(
            check_rate_per_s(0.0),
            Err(RateError::NotPositive(_))
        ));
        assert!(matches!(
            check_rate_per_s(f64::NAN),
            Err(RateError::NotFinite(_))
        ));
        assert!(matches!(check_rate_per_s(2e6), Err(RateError::TooHigh(_))));
    }

    #[test]
    fn key_patterns() {
        let pattern = KeyPattern::parse("obj-{0..99}").unwrap();
        assert_eq!(pattern.len(), 100);
        assert_eq!(pattern.key(0), "obj-0");
        assert_eq!(pattern.key(99), "obj-99");
        assert_eq!(pattern.to_string(), "obj-{0..99}");

        let pattern = KeyPattern::parse("a/{5..5}.json").unwrap();
        assert_eq!(pattern.keys().collect::<Vec<_>>(), ["a/5.json"]);
        assert_eq!(pattern.to_string(), "a/{5..5}.json");

        let literal = KeyPattern::parse("index.html").unwrap();
        assert_eq!(
            (literal.len(), literal.key(0)),
            (1, "index.html".to_owned())
        );

        let full = KeyPattern::parse("{0..4294967295}").unwrap();
        assert_eq!(full.len(), 1 << 32);
        assert_eq!(full.key(4_294_967_295), "4294967295");
    }

    #[test]
    fn key_pattern_errors() {
        let bad = [
            ("", KeyPatternError::Empty),
            ("obj-{0..9", KeyPatternError::Unclosed { at: 4..5 }),
            ("obj-}", KeyPatternError::UnmatchedClose { at: 4..5 }),
            ("obj-{0-9}", KeyPatternError::BadRange { at: 4..9 }),
            ("obj-{a..9}", KeyPatternError::BadRange { at: 4..10 }),
            ("obj-{007..9}", KeyPatternError::LeadingZero { at: 5..8 }),
            (
                "obj-{9..0}",
                KeyPatternError::Reversed {
                    start: 9,
                    end: 0,
                    at: 4..10,
                },
            ),
            ("{0..1}-{0..1}", KeyPatternError::TooManyRanges { at: 7..8 }),
            (
                "{0..4294967296}",
                KeyPatternError::BoundTooLarge { at: 4..14 },
            ),
            ("a\tb", KeyPatternError::ControlCharacter { at: 1..2 }),
        ];
        for (text, expected) in bad {
            assert_eq!(KeyPattern::parse(text), Err(expected), "{text:?}");
        }
        let long = "k".repeat(1025);
        assert_eq!(
            KeyPattern::parse(&long),
            Err(KeyPatternError::TooLong { len: 1025 })
        );
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn key_index_past_the_end_is_a_bug() {
        KeyPattern::parse("obj-{0..1}").unwrap().key(2);
    }
}
