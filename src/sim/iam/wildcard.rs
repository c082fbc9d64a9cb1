//! IAM glob matching: `*` (any run of characters, including none) and `?`
//! (exactly one character), with no escape syntax and no regex.
//!
//! This module owns the one matching algorithm every IAM element uses:
//! `Action` (case-insensitive), `Resource` (case-sensitive, `*` spans `/`
//! and `:`), `StringLike`, and the segment-wise `ArnLike`/`ArnEquals`.
//! It runs on the per-request hot path, so it never allocates: patterns are
//! walked as token iterators, and backtracking keeps only the position of
//! the last `*` (the classic linear-space greedy algorithm, correct for
//! globs whose only wildcards are `*` and `?`).
//!
//! Patterns are token streams rather than plain strings so that a policy
//! variable's substituted value (for example `${aws:username}`, or the
//! literal `${*}`) can be matched literally even when it contains `*`.

use std::str::Chars;

/// One element of a glob pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    /// A character that must match literally.
    Char(char),
    /// `?`: exactly one character.
    One,
    /// `*`: any run of characters, possibly empty.
    Star,
}

/// Maps a pattern character to its token (`*` and `?` are wildcards).
#[inline]
pub fn tok(c: char) -> Tok {
    match c {
        '*' => Tok::Star,
        '?' => Tok::One,
        c => Tok::Char(c),
    }
}

/// Tokens of a pattern string in which `*` and `?` are wildcards.
#[derive(Debug, Clone)]
pub struct GlobToks<'a>(Chars<'a>);

impl Iterator for GlobToks<'_> {
    type Item = Tok;
    #[inline]
    fn next(&mut self) -> Option<Tok> {
        self.0.next().map(tok)
    }
}

/// Tokens of a string matched literally (`*` and `?` are plain characters).
#[derive(Debug, Clone)]
pub struct LiteralToks<'a>(Chars<'a>);

impl Iterator for LiteralToks<'_> {
    type Item = Tok;
    #[inline]
    fn next(&mut self) -> Option<Tok> {
        self.0.next().map(Tok::Char)
    }
}

/// The tokens of `pattern`, with `*` and `?` as wildcards.
pub fn glob_tokens(pattern: &str) -> GlobToks<'_> {
    GlobToks(pattern.chars())
}

/// The tokens of `text` taken literally.
pub fn literal_tokens(text: &str) -> LiteralToks<'_> {
    LiteralToks(text.chars())
}

/// Whether `s` contains a wildcard character; lets callers take the exact
/// comparison fast path.
#[inline]
pub fn has_wildcard(s: &str) -> bool {
    s.bytes().any(|b| b == b'*' || b == b'?')
}

/// Case-insensitive character equality (full Unicode lowercase mapping,
/// ASCII fast path), without allocating.
#[inline]
pub fn chars_eq_ignore_case(a: char, b: char) -> bool {
    if a == b {
        return true;
    }
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(&b);
    }
    a.to_lowercase().eq(b.to_lowercase())
}

/// Case-insensitive string equality, as `StringEqualsIgnoreCase` needs.
pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

#[inline]
fn tok_matches(t: Tok, c: char, fold: bool) -> bool {
    match t {
        Tok::Char(p) => p == c || (fold && chars_eq_ignore_case(p, c)),
        Tok::One | Tok::Star => true,
    }
}

/// Case-sensitive glob match of the whole of `text` against `pattern`.
///
/// This is how IAM matches `Resource` ARNs and `StringLike` values: `*`
/// spans every character, `/` and `:` included.
pub fn matches(pattern: &str, text: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if !has_wildcard(pattern) {
        return pattern == text;
    }
    matches_tokens(glob_tokens(pattern), text, false)
}

/// Case-insensitive glob match, as IAM matches `Action` names
/// (`s3:get*` matches `s3:GetObject`).
pub fn matches_ignore_case(pattern: &str, text: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if !has_wildcard(pattern) {
        return eq_ignore_case(pattern, text);
    }
    matches_tokens(glob_tokens(pattern), text, true)
}

/// Glob match of the whole of `text` against a token stream; `fold` makes
/// literal characters compare case-insensitively.
///
/// Greedy with a single backtrack point (the last `*` seen): on a mismatch
/// the last star absorbs one more character and matching resumes after it.
/// Earlier stars never need revisiting, because a later star can absorb
/// anything an earlier one could. Time is O(|pattern| · |text|) worst case,
/// space O(1).
pub fn matches_tokens<P>(pattern: P, text: &str, fold: bool) -> bool
where
    P: Iterator<Item = Tok> + Clone,
{
    let mut p = pattern;
    let mut t = text.chars();
    // The pattern just after the last star, and the text the star has not
    // yet absorbed.
    let mut resume: Option<(P, Chars<'_>)> = None;
    loop {
        let mut p_next = p.clone();
        match p_next.next() {
            Some(Tok::Star) => {
                p = p_next;
                if p.clone().all(|x| x == Tok::Star) {
                    return true;
                }
                resume = Some((p.clone(), t.clone()));
                continue;
            }
            Some(x) => {
                let mut t_next = t.clone();
                if let Some(c) = t_next.next()
                    && tok_matches(x, c, fold)
                {
                    p = p_next;
                    t = t_next;
                    continue;
                }
            }
            None => {
                if t.as_str().is_empty() {
                    return true;
                }
            }
        }
        let Some((rp, rt)) = resume.as_mut() else {
            return false;
        };
        if rt.next().is_none() {
            return false;
        }
        p = rp.clone();
        t = rt.clone();
    }
}

/// `ArnLike`/`ArnEquals` matching: each of the six colon-delimited ARN
/// components is matched separately, so a wildcard in the region segment
/// cannot swallow the account. The sixth component (the resource) keeps
/// any further colons.
///
/// A pattern with fewer than six components lets its last component match
/// the rest of the ARN (so `"*"` matches any ARN); an ARN with fewer
/// components than the pattern does not match.
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    arn_matches_tokens(glob_tokens(pattern), arn)
}

/// [`arn_matches`] over a token stream (used with substituted variables).
pub fn arn_matches_tokens<P>(pattern: P, arn: &str) -> bool
where
    P: Iterator<Item = Tok> + Clone,
{
    const COLON: Tok = Tok::Char(':');
    let mut p = pattern;
    let mut rest = arn;
    for _ in 0..5 {
        if !p.clone().any(|x| x == COLON) {
            return matches_tokens(p, rest, false);
        }
        let Some((segment, tail)) = rest.split_once(':') else {
            return false;
        };
        if !matches_tokens(p.clone().take_while(|x| *x != COLON), segment, false) {
            return false;
        }
        for x in p.by_ref() {
            if x == COLON {
                break;
            }
        }
        rest = tail;
    }
    matches_tokens(p, rest, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_patterns() {
        assert!(matches("abc", "abc"));
        assert!(!matches("abc", "abcd"));
        assert!(!matches("abc", "ab"));
        assert!(matches("", ""));
        assert!(!matches("", "a"));
        assert!(!matches("a", ""));
    }

    #[test]
    fn star_edge_cases() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything/at:all"));
        assert!(matches("**", "x"));
        assert!(matches("a*", "a"));
        assert!(matches("*a", "a"));
        assert!(matches("a*b*c", "abc"));
        assert!(matches("a*b*c", "aXbYc"));
        assert!(matches("a*b*c", "abbbcbc"));
        assert!(!matches("a*b*c", "acb"));
        assert!(!matches("a*b", "ab/c"));
        assert!(matches("*x*", "x"));
        assert!(!matches("*x*", "yyy"));
        // Needs the star to backtrack past a partial match.
        assert!(matches("*aab", "aaab"));
        assert!(matches("*ab*ab", "ababab"));
        assert!(!matches("*ab*ab", "abxa"));
    }

    #[test]
    fn question_mark() {
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(!matches("a?c", "abbc"));
        assert!(matches("???", "abc"));
        assert!(matches("?*", "a"));
        assert!(!matches("?*", ""));
        // `?` is one character, not one byte.
        assert!(matches("a?c", "aéc"));
        assert!(matches("*?", "é"));
        assert!(matches("*é", "aaé"));
    }

    #[test]
    fn arn_star_spans_slash_and_colon() {
        assert!(matches(
            "arn:aws:s3:::bucket/*",
            "arn:aws:s3:::bucket/a/b/c"
        ));
        assert!(matches("arn:aws:s3:::*", "arn:aws:s3:::b/k:with:colons"));
        assert!(matches("arn:aws:*", "arn:aws:iam::123456789012:role/x"));
        assert!(!matches("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket2/k"));
        assert!(matches("arn:aws:s3:::bucket?/*", "arn:aws:s3:::bucket2/k"));
    }

    #[test]
    fn resource_is_case_sensitive_action_is_not() {
        assert!(!matches("arn:aws:s3:::Bucket/*", "arn:aws:s3:::bucket/k"));
        assert!(matches_ignore_case("s3:get*", "s3:GetObject"));
        assert!(matches_ignore_case("S3:GETOBJECT", "s3:GetObject"));
        assert!(matches_ignore_case("s3:*object", "s3:GetObject"));
        assert!(!matches_ignore_case("s3:get*", "s3:PutObject"));
        assert!(matches_ignore_case("*", "iam:CreateUser"));
    }

    #[test]
    fn literal_tokens_do_not_wildcard() {
        assert!(matches_tokens(literal_tokens("a*"), "a*", false));
        assert!(!matches_tokens(literal_tokens("a*"), "ab", false));
        assert!(!matches_tokens(literal_tokens("a?"), "ab", false));
    }

    #[test]
    fn arn_like_is_segment_wise() {
        let arn = "arn:aws:sns:us-east-1:123456789012:topic";
        assert!(arn_matches("arn:aws:sns:*:123456789012:*", arn));
        assert!(arn_matches("arn:aws:sns:us-*-1:*:top?c", arn));
        assert!(!arn_matches("arn:aws:sns:*:111111111111:*", arn));
        // A region wildcard may not swallow the account segment.
        assert!(!arn_matches("arn:aws:sns:*:topic", arn));
        // Fewer pattern segments: the last absorbs the rest.
        assert!(arn_matches("*", arn));
        assert!(arn_matches("arn:aws:*", arn));
        // The resource segment keeps its colons.
        assert!(arn_matches(
            "arn:aws:logs:*:*:log-group:app:*",
            "arn:aws:logs:eu-west-1:123456789012:log-group:app:log-stream:x"
        ));
        // Not an ARN.
        assert!(!arn_matches("arn:aws:sns:*:*:*", "topic"));
        assert!(!arn_matches("arn:aws:sns:*:*:x", "arn:aws:sns:r:1:y"));
    }

    #[test]
    fn ignore_case_unicode() {
        assert!(eq_ignore_case("ÄBC", "äbc"));
        assert!(!eq_ignore_case("abc", "abd"));
        assert!(chars_eq_ignore_case('Σ', 'σ'));
    }
}
