//! `iamstorm doctor`'s output: the human verdict (cause, evidence, fix,
//! then the runbook steps as checked) and `--json` — both rendered from
//! one [`DoctorReport`].

use std::fmt::Write;

use crate::doctor::DoctorReport;
use crate::doctor::evidence::ImdsCall;

/// The report as pretty JSON.
pub fn json(report: &DoctorReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| {
        // Every field is plain data; failing here is a bug.
        format!("{{\"error\": \"cannot render the report: {e}\"}}")
    })
}

fn call(c: &Option<ImdsCall>) -> String {
    match c {
        None => "not asked".to_owned(),
        Some(c) => match (c.status, &c.detail) {
            (Some(s), _) => format!("{s} ({:.1} ms)", c.latency_ms),
            (None, Some(d)) => format!("no answer: {d}"),
            (None, None) => "no answer".to_owned(),
        },
    }
}

/// The report for a terminal.
pub fn text(r: &DoctorReport) -> String {
    let v = &r.verdict;
    let e = &r.evidence;
    let mut out = String::new();
    let _ = writeln!(out, "cause: {} — {}", v.cause.as_str(), v.summary);
    if !v.evidence.is_empty() {
        let _ = writeln!(out, "evidence:");
        for line in &v.evidence {
            let _ = writeln!(out, "  - {line}");
        }
    }
    if let Some(fix) = &v.fix {
        match fix.command() {
            Some(cmd) => {
                let _ = writeln!(out, "fix (not applied unless --fix --allow-mutations):");
                let _ = writeln!(out, "  {cmd}");
            }
            None => {
                if let crate::doctor::verdict::Fix::Advice { text } = fix {
                    let _ = writeln!(out, "fix: {text}");
                }
            }
        }
    }
    if let Some(f) = &r.fix_applied {
        match (&f.change, f.applied) {
            (Some(change), true) => {
                let _ = writeln!(
                    out,
                    "fix applied: {change} (journal {}; undo: iamstorm rollback {}){}",
                    f.journal.as_deref().unwrap_or("-"),
                    f.journal.as_deref().unwrap_or("JOURNAL"),
                    match f.allowed_after_ms {
                        Some(ms) => format!("; the request is allowed {:.1} s later", ms / 1e3),
                        None if f.reprobes > 0 => format!(
                            "; still not allowed after {} probes (propagating?)",
                            f.reprobes
                        ),
                        None => String::new(),
                    }
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "fix not applied: {}",
                    f.error.as_deref().unwrap_or("unknown")
                );
            }
        }
    }
    for n in &v.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let _ = writeln!(out, "checked ({:.0} ms) on {}:", r.duration_ms, e.target);
    for a in &r.timeline_applied {
        let _ = writeln!(out, "  timeline applied first: {a}");
    }
    let _ = writeln!(
        out,
        "  instance {} {}imds {}",
        e.instance.instance_id.as_deref().unwrap_or("(unknown)"),
        e.instance
            .group
            .as_ref()
            .map(|g| format!("group {g} "))
            .unwrap_or_default(),
        e.instance.imds_endpoint
    );
    let i = &e.imds;
    let _ = writeln!(
        out,
        "  1/4 IMDS: PUT token {}, iam/info {}, role {} → {}, credentials {} → {}{}; IMDSv1 GET {}",
        call(&i.token_put),
        call(&i.info_get),
        call(&i.role_get),
        i.role_name.as_deref().unwrap_or("-"),
        call(&i.credentials_get),
        i.credentials_code.as_deref().unwrap_or("-"),
        match (i.credentials_age_s, i.credentials_expires_in_s) {
            (Some(age), Some(exp)) => format!(" (age {age} s, expires in {exp} s)"),
            _ => String::new(),
        },
        call(&i.v1_get)
    );
    if let Some(id) = &e.identity {
        let _ = writeln!(
            out,
            "  1 identity: {}",
            id.arn
                .clone()
                .or_else(|| id.error.clone())
                .unwrap_or_default()
        );
    }
    if let Some(s) = &e.simulation {
        let _ = writeln!(
            out,
            "  1 simulate {} on {}: {}",
            e.action,
            e.resource,
            s.decision
                .clone()
                .or_else(|| s.error.clone())
                .unwrap_or_default()
        );
    }
    if let Some(p) = &e.probe {
        let _ = writeln!(
            out,
            "  1 probe: {}",
            match (&p.call, &p.class) {
                (Some(c), Some(class)) => format!(
                    "{c} → {class}{} ({:.1} ms)",
                    p.detail
                        .as_ref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default(),
                    p.latency_ms
                ),
                _ => "no read-only probe for this action (simulation only)".to_owned(),
            }
        );
    }
    if let Some(role) = &e.role {
        let _ = writeln!(
            out,
            "  2 policies of {}: {}",
            role.name,
            if role.policies.is_empty() {
                "none".to_owned()
            } else {
                role.policies
                    .iter()
                    .map(|p| {
                        let plural = if p.statements == 1 { "" } else { "s" };
                        format!("{} ({} statement{plural})", p.policy, p.statements)
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
        for s in &role.statements {
            let _ = writeln!(
                out,
                "      {} #{} {} {}{}",
                s.policy,
                s.index,
                s.effect,
                if s.resource_matches {
                    "matches"
                } else {
                    "action only"
                },
                if s.has_condition { " (Condition)" } else { "" }
            );
        }
        let _ = writeln!(
            out,
            "  3 trust allows ec2.amazonaws.com: {}",
            match role.trust_allows_ec2 {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "unknown",
            }
        );
    }
    let a = &e.association;
    let _ = writeln!(
        out,
        "  4 instance profile: {} (from {}), expected {}",
        a.associated_profile.as_deref().unwrap_or("none"),
        a.associated_source.as_deref().unwrap_or("-"),
        match (&a.expected_profile, &a.expected_source) {
            (Some(p), Some(s)) => format!("{p} ({s})"),
            _ => "nothing in particular".to_owned(),
        }
    );
    if let Some(b) = &e.burst {
        let counts: Vec<String> = b
            .counts
            .iter()
            .map(|(c, n)| {
                format!(
                    "{c} {n} ({:.1}/s)",
                    b.rate_per_s.get(c).copied().unwrap_or(0.0)
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "  5 burst: {} requests at {:.0}/s in {:.0} ms: {}",
            b.requests,
            b.rate_per_s_target,
            b.duration_ms,
            counts.join(", ")
        );
    }
    if let Some(p) = &e.propagation {
        let _ = writeln!(
            out,
            "  FAQ propagation: {} probes over {:.1} s, {} denied, {}",
            p.probes,
            p.waited_ms / 1e3,
            p.denied_probes,
            match p.allowed_after_ms {
                Some(ms) => format!("allowed after {:.1} s", ms / 1e3),
                None => "never allowed".to_owned(),
            }
        );
    }
    let _ = writeln!(out, "exit {}", r.exit_code);
    out
}
