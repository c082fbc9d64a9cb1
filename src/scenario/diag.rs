//! Diagnostics: what is wrong in a scenario, where (file:line:col), and what
//! to do about it.
//!
//! This file owns the byte-offset → line:col mapping and the rustc-like
//! rendering. It knows nothing about TOML or JSON: callers hand it a byte
//! span into a [`SourceFile`] and a message.

use std::fmt;
use std::ops::Range;

/// One problem found in a scenario or in a file it names.
///
/// It carries its own source line so it can be shown, with a caret, long after
/// the files were read (for example by the CLI's `validate` command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in, as the user named it (the scenario file, or
    /// a policy file resolved against the scenario's directory).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters (not bytes), as editors count them.
    pub col: u32,
    /// What is wrong, naming the offending value.
    pub message: String,
    /// What to do about it, when there is something more to say than the message.
    pub help: Option<String>,
    /// The text of `line`, without its line ending; `None` when the file could
    /// not be read at all.
    pub source_line: Option<String>,
    /// How many characters of `source_line` the caret underlines (at least 1).
    pub width: u32,
}

/// Characters of a source line shown on each side of the column.
const SNIPPET_CONTEXT_CHARS: usize = 80;

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file, self.line, self.col, self.message
        )?;
        if let Some(source_line) = &self.source_line {
            let number = self.line.to_string();
            let gutter = " ".repeat(number.len());
            // A minified or generated file can have one line of megabytes:
            // show a window of it around the column, marked with `…`.
            let col = self.col.saturating_sub(1) as usize;
            let skip = col.saturating_sub(SNIPPET_CONTEXT_CHARS);
            let total = source_line.chars().count();
            let take = SNIPPET_CONTEXT_CHARS * 2;
            let shown: String = source_line.chars().skip(skip).take(take).collect();
            let (head, tail) = (
                if skip > 0 { "…" } else { "" },
                if skip + take < total { "…" } else { "" },
            );
            // Keep tabs as tabs in the padding so the caret lines up the way
            // the terminal renders the source line.
            let pad: String = head
                .chars()
                .chain(source_line.chars().skip(skip).take(col - skip))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let width = (self.width.max(1) as usize).min(take + skip - col).max(1);
            write!(
                f,
                "\n{gutter} |\n{number} | {head}{shown}{tail}\n{gutter} | {pad}"
            )?;
            write!(f, "{}", "^".repeat(width))?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Every problem found while loading one scenario, in file order.
///
/// Validation reports all of them at once so a user fixes a file in one pass,
/// not one error per run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.diagnostics))]
pub struct ScenarioError {
    /// Never empty.
    pub diagnostics: Vec<Diagnostic>,
}

fn render(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        out.push_str(&diagnostic.to_string());
        out.push_str("\n\n");
    }
    let count = diagnostics.len();
    out.push_str(&format!(
        "error: the scenario has {count} problem{}",
        if count == 1 { "" } else { "s" }
    ));
    out
}

/// A file's text with an index of where its lines start, so spans become
/// line:col cheaply.
#[derive(Debug)]
pub(crate) struct SourceFile {
    name: String,
    text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub(crate) fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            name: name.into(),
            text,
            line_starts,
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The byte offset of the start of 1-based `line`, clamped to the text.
    pub(crate) fn line_start(&self, line: usize) -> usize {
        let index = line.saturating_sub(1).min(self.line_starts.len() - 1);
        self.line_starts[index]
    }

    /// 1-based (line, col) of a byte offset; col counts characters.
    pub(crate) fn position(&self, offset: usize) -> (u32, u32) {
        let offset = self.text.floor_char_boundary(offset.min(self.text.len()));
        let index = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let start = self.line_starts[index];
        let col = self.text[start..offset].chars().count() + 1;
        (to_u32(index + 1), to_u32(col))
    }

    /// The byte range of the line holding `offset`, without its line ending.
    fn line_range(&self, offset: usize) -> Range<usize> {
        let offset = self.text.floor_char_boundary(offset.min(self.text.len()));
        let index = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let start = self.line_starts[index];
        let end = self
            .line_starts
            .get(index + 1)
            .map_or(self.text.len(), |next| next - 1);
        let line = &self.text[start..end];
        start..start + line.trim_end_matches('\r').len()
    }

    /// A diagnostic pointing at `span`; multi-line spans are underlined on
    /// their first line only.
    pub(crate) fn diagnostic(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Diagnostic {
        let (line, col) = self.position(span.start);
        let line_range = self.line_range(span.start);
        let start = self
            .text
            .floor_char_boundary(span.start.clamp(line_range.start, line_range.end));
        let end = self
            .text
            .floor_char_boundary(span.end.clamp(start, line_range.end));
        Diagnostic {
            file: self.name.clone(),
            line,
            col,
            message: message.into(),
            help,
            source_line: Some(self.text[line_range].to_owned()),
            width: to_u32(self.text[start..end].chars().count().max(1)),
        }
    }

    /// Narrow a string value's span to `inner` (a byte range within the
    /// string's value) when the literal in the source is exactly the value in
    /// one-character quotes, i.e. it has no escapes; otherwise keep the whole
    /// literal so the caret is never misplaced.
    pub(crate) fn span_within_string(
        &self,
        literal: Range<usize>,
        value: &str,
        inner: Range<usize>,
    ) -> Range<usize> {
        let raw = self.text.get(literal.clone()).unwrap_or("");
        let plain = raw.len() == value.len() + 2 && raw.get(1..raw.len() - 1) == Some(value);
        if plain && inner.end <= value.len() {
            literal.start + 1 + inner.start..literal.start + 1 + inner.end.max(inner.start + 1)
        } else {
            literal
        }
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The candidate closest to `input` by edit distance, if any is close enough
/// to be a plausible typo (case differences are always close).
pub(crate) fn closest<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (input.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| {
            let distance = if candidate.eq_ignore_ascii_case(input) {
                0
            } else {
                edit_distance(&input.to_ascii_lowercase(), &candidate.to_ascii_lowercase())
            };
            (distance, candidate)
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let file = SourceFile::new("f.toml", "a = 1\nné = \"x\"\n");
        assert_eq!(file.position(0), (1, 1));
        assert_eq!(file.position(6), (2, 1));
        // "é" is two bytes but one column.
        assert_eq!(file.position(12), (2, 6));
        assert_eq!(file.position(1000), (3, 1));
    }

    #[test]
    fn renders_like_rustc() {
        let file = SourceFile::new("s.toml", "name = \"x\"\nrate = -5\n");
        let diagnostic = file.diagnostic(
            18..20,
            "rate must be greater than 0 (got -5)",
            Some("use a positive rate".into()),
        );
        let error = ScenarioError {
            diagnostics: vec![diagnostic],
        };
        assert_eq!(
            error.to_string(),
            "s.toml:2:8: error: rate must be greater than 0 (got -5)\n  |\n2 | rate = -5\n  |        ^^\n  help: use a positive rate\n\nerror: the scenario has 1 problem"
        );
    }

    #[test]
    fn span_within_plain_string_points_inside_it() {
        let file = SourceFile::new("s.toml", "k = \"ab{1..x}\"\nj = \"a\\u0062{\"\n");
        assert_eq!(file.span_within_string(4..14, "ab{1..x}", 2..3), 7..8);
        // Escapes make offsets unreliable: keep the whole literal.
        assert_eq!(file.span_within_string(19..30, "ab{", 2..3), 19..30);
    }

    #[test]
    fn closest_suggests_plausible_typos_only() {
        assert_eq!(closest("rat", ["rate", "start"]), Some("rate"));
        assert_eq!(closest("EC2", ["ec2", "none"]), Some("ec2"));
        assert_eq!(closest("banana", ["rate", "start"]), None);
    }
}
