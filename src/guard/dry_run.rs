//! `run --dry-run`: every call the run would make, in order, with no
//! request sent — setup, the fleet's credential source, each load entry's
//! planned volume, each timeline change with the reads that journal it and
//! the calls that restore it.

use std::fmt::Write as _;

use super::Rails;
use super::undo;
use crate::scenario::{LoadModel, Scenario, TargetKind, TimelineKind};

/// The plan as text, one call or stream per line.
pub fn render(scenario: &Scenario, rails: &Rails) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "dry run of {}: nothing is sent. Every call the run would make:",
        scenario.name
    );
    let at = rails.endpoint_url.as_deref().unwrap_or(match rails.kind {
        TargetKind::Sim => "an embedded double on loopback ports",
        _ => "AWS endpoints",
    });
    let _ = writeln!(w, "\ntarget: {} at {at}", rails.kind);
    let cap = |v: Option<String>| v.unwrap_or_else(|| "none".to_owned());
    let _ = writeln!(
        w,
        "caps: rate {}, requests {}",
        cap(rails.caps.max_rate_per_s.map(|r| format!("{r}/s"))),
        cap(rails.caps.max_requests.map(|n| n.to_string()))
    );
    if rails.kind != TargetKind::Sim {
        let _ = writeln!(
            w,
            "connect: default credential chain; sts:GetCallerIdentity (account, reachability){}",
            if rails.kind == TargetKind::Endpoint {
                "; GET /_iamstorm/health (is it an iamstorm double?)"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(w, "\nsetup:");
    setup(w, scenario, rails.kind);
    let _ = writeln!(w, "\nfleet:");
    for g in &scenario.fleet {
        let creds = match rails.kind {
            TargetKind::Aws => {
                "credentials from the default chain (on EC2: the real instance profile)"
            }
            _ => "one IMDS each (token, role name, credentials) when the target is a double",
        };
        let _ = writeln!(
            w,
            "  {}: {} instances x {} workers; {creds}",
            g.group, g.instances, g.workers_per_instance
        );
    }
    let _ = writeln!(w, "\nload ({:?}):", scenario.duration);
    for e in &scenario.load {
        let window = (e.end - e.start).as_secs_f64();
        let volume = match &e.model {
            LoadModel::Open { profile, arrivals } => format!(
                "open, {arrivals:?} arrivals, peak {:.1}/s, about {:.0} requests",
                profile.peak_per_s(),
                profile.cumulative(window, window)
            ),
            LoadModel::Closed {
                workers_per_instance,
                think_time,
            } => format!(
                "closed, {workers_per_instance} workers per instance, think {think_time:?} (volume set by the answers; capped at run time)"
            ),
        };
        let on = match (&e.bucket, &e.keys) {
            (Some(b), Some(k)) => format!(" s3://{b}/{k}"),
            (Some(b), None) => format!(" s3://{b}"),
            _ => e
                .role
                .as_ref()
                .map_or_else(String::new, |r| format!(" role {}", r.name)),
        };
        let _ = writeln!(
            w,
            "  {:?}..{:?} {}: {}{on}; {volume}",
            e.start, e.end, e.name, e.op
        );
    }
    let _ = writeln!(
        w,
        "  planned total: about {:.0} requests, peak {:.1}/s{}",
        rails.plan.requests,
        rails.plan.peak_rate_per_s,
        if rails.plan.closed_entries > 0 {
            " (plus closed-model entries)"
        } else {
            ""
        }
    );
    let _ = writeln!(w, "\ntimeline:");
    if scenario.timeline.is_empty() {
        let _ = writeln!(w, "  (none)");
    }
    for a in &scenario.timeline {
        let _ = writeln!(w, "  {:?} {}", a.at, describe(&a.kind));
        if rails.journaled()
            && let Some(resource) = undo::resource(&a.kind)
        {
            let _ = writeln!(
                w,
                "      first: read {resource}'s prior state, journal the undo (fsync), then send"
            );
        }
    }
    if rails.journaled() {
        let _ = writeln!(
            w,
            "\nend (and on Ctrl-C/SIGTERM): undo every journaled change, newest first; journal at <results>/journal.jsonl (iamstorm rollback JOURNAL after a crash)"
        );
    }
    out
}

fn setup(w: &mut String, scenario: &Scenario, kind: TargetKind) {
    let verify = kind == TargetKind::Aws;
    for r in &scenario.roles {
        if verify {
            let _ = writeln!(w, "  iam:GetRole {} (must exist; not created)", r.name);
        } else {
            let _ = writeln!(w, "  iam:CreateRole {} (trust {:?})", r.name, trust_name(r));
            for (name, _) in &r.inline {
                let _ = writeln!(w, "  iam:PutRolePolicy {}/{name}", r.name);
            }
        }
    }
    for p in &scenario.instance_profiles {
        if verify {
            let _ = writeln!(w, "  iam:GetInstanceProfile {}", p.name);
        } else {
            let _ = writeln!(w, "  iam:CreateInstanceProfile {}", p.name);
            let _ = writeln!(w, "  iam:AddRoleToInstanceProfile {} {}", p.name, p.role);
        }
    }
    for b in &scenario.buckets {
        if verify {
            let _ = writeln!(
                w,
                "  s3:HeadBucket {} (must exist; objects not written)",
                b.name
            );
        } else {
            let _ = writeln!(w, "  s3:CreateBucket {}", b.name);
            if let Some(keys) = &b.objects {
                let _ = writeln!(
                    w,
                    "  s3:PutObject s3://{}/{keys} x {} ({} bytes each)",
                    b.name,
                    keys.len(),
                    b.object_size_bytes
                );
            }
        }
    }
}

fn trust_name(r: &crate::scenario::Role) -> &'static str {
    match r.trust {
        crate::scenario::Trust::Ec2 => "ec2",
        crate::scenario::Trust::Nobody => "nobody",
        crate::scenario::Trust::Document(_) => "document",
    }
}

/// One timeline action as the call it makes.
fn describe(kind: &TimelineKind) -> String {
    use TimelineKind as K;
    match kind {
        K::PutRolePolicy {
            role, policy_name, ..
        } => format!("iam:PutRolePolicy {role}/{policy_name}"),
        K::DeleteRolePolicy { role, policy_name } => {
            format!("iam:DeleteRolePolicy {role}/{policy_name}")
        }
        K::AttachRolePolicy { role, policy_arn } => {
            format!("iam:AttachRolePolicy {role} {policy_arn}")
        }
        K::DetachRolePolicy { role, policy_arn } => {
            format!("iam:DetachRolePolicy {role} {policy_arn}")
        }
        K::CreatePolicyVersion {
            policy_arn,
            set_as_default,
            ..
        } => format!("iam:CreatePolicyVersion {policy_arn} (set as default: {set_as_default})"),
        K::UpdateAssumeRolePolicy { role, .. } => format!("iam:UpdateAssumeRolePolicy {role}"),
        K::PutRolePermissionsBoundary { role, policy_arn } => {
            format!("iam:PutRolePermissionsBoundary {role} {policy_arn}")
        }
        K::DeleteRolePermissionsBoundary { role } => {
            format!("iam:DeleteRolePermissionsBoundary {role}")
        }
        K::PutBucketPolicy { bucket, .. } => format!("s3:PutBucketPolicy {bucket}"),
        K::DeleteBucketPolicy { bucket } => format!("s3:DeleteBucketPolicy {bucket}"),
        other => format!("{} (through the double's admin API)", other.name()),
    }
}
