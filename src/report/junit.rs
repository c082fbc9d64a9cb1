//! `junit.xml`: one test case per threshold, so a CI system's test view
//! shows which gate failed and by how much. Written for every run (no
//! thresholds → an empty suite, which CI tools accept).

use std::io::{self, Write};

use super::Summary;

/// Escapes text for an XML attribute or element.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// Writes the JUnit XML for `summary`'s thresholds.
pub fn write(summary: &Summary, mut out: impl Write) -> io::Result<()> {
    let tests = summary.thresholds.len();
    let failures = summary.thresholds.iter().filter(|t| !t.passed).count();
    let suite = format!("iamstorm.{}", summary.scenario);
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="iamstorm" tests="{tests}" failures="{failures}" time="{:.3}">"#,
        summary.duration_s
    )?;
    writeln!(
        out,
        r#"  <testsuite name="{}" tests="{tests}" failures="{failures}" errors="0" skipped="0" time="{:.3}">"#,
        xml(&suite),
        summary.duration_s
    )?;
    writeln!(out, "    <properties>")?;
    for (name, value) in [
        ("run_id", summary.run_id.clone()),
        ("seed", summary.seed.to_string()),
        ("requests_total", summary.requests_total.to_string()),
    ] {
        writeln!(
            out,
            r#"      <property name="{name}" value="{}"/>"#,
            xml(&value)
        )?;
    }
    writeln!(out, "    </properties>")?;
    for t in &summary.thresholds {
        let case = format!(
            r#"    <testcase classname="{}" name="{}" time="0""#,
            xml(&suite),
            xml(&t.threshold)
        );
        if t.passed {
            writeln!(out, "{case}/>")?;
        } else {
            writeln!(out, "{case}>")?;
            writeln!(
                out,
                r#"      <failure type="threshold" message="{}">{}: {}</failure>"#,
                xml(&t.reason),
                xml(&t.threshold),
                xml(&t.reason)
            )?;
            writeln!(out, "    </testcase>")?;
        }
    }
    writeln!(out, "  </testsuite>")?;
    writeln!(out, "</testsuites>")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_xml_cannot_hold() {
        assert_eq!(
            xml(r#"latency.p99{op="a&b"} < 5ms"#),
            "latency.p99{op=&quot;a&amp;b&quot;} &lt; 5ms"
        );
        assert_eq!(xml("bell\u{7}"), "bell?");
    }
}
