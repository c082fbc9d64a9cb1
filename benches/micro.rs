//! Micro-benchmarks of the hot paths, each next to a baseline measured in
//! the same run so results read as ratios (the machine is shared and
//! noisy): SigV4 verification (vs. one HMAC-SHA256, its floor), policy
//! evaluation small / large / with conditions (vs. the small case), the
//! outcome classifier, histogram recording (vs. a bare `hdrhistogram`
//! record) and the arrival scheduler.
//!
//! `cargo bench --bench micro` (full); CI runs `cargo bench --bench micro
//! -- --quick` through `.ci/run`'s quick mode only.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use iamstorm::load::profile::{Arrivals, RateProfile, Schedule};
use iamstorm::observe::classify::classify_response;
use iamstorm::observe::metrics::{Metrics, Sample};
use iamstorm::observe::outcome::OutcomeClass;
use iamstorm::sim::auth::sigv4::{self, SignedRequest, UriEncoding};
use iamstorm::sim::iam::eval::{PolicyRef, PolicyType, RequestContext, evaluate};
use iamstorm::sim::iam::policy::{PolicyKind, parse_policy};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// A signed S3 GetObject as the SDK sends it: the header pairs, the
/// Authorization value and the payload hash.
fn signed_get() -> (Vec<(String, String)>, String) {
    let amz_date = "20150830T123600Z";
    let payload = sigv4::payload_sha256_hex(b"");
    let headers = vec![
        ("host".to_owned(), "assets.s3.amazonaws.com".to_owned()),
        ("x-amz-content-sha256".to_owned(), payload.clone()),
        ("x-amz-date".to_owned(), amz_date.to_owned()),
        (
            "user-agent".to_owned(),
            "aws-sdk-rust/1.3 os/linux".to_owned(),
        ),
    ];
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let signed: Vec<String> = vec![
        "host".into(),
        "x-amz-content-sha256".into(),
        "x-amz-date".into(),
    ];
    let req = SignedRequest {
        method: "GET",
        raw_path: "/assets/obj-42",
        raw_query: "x-id=GetObject",
        headers: &pairs,
        payload_sha256_hex: &payload,
    };
    let canonical =
        sigv4::canonical_request(&req, &signed, UriEncoding::S3).expect("canonical request");
    let scope = "20150830/us-east-1/s3/aws4_request";
    let sts = sigv4::string_to_sign(amz_date, scope, &canonical);
    let key = sigv4::signing_key(SECRET, "20150830", "us-east-1", "s3");
    let signature = sigv4::signature_hex(&key, &sts);
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{scope}, SignedHeaders={}, Signature={signature}",
        signed.join(";")
    );
    (headers, auth)
}

fn sigv4_verify(c: &mut Criterion) {
    let (headers, auth_text) = signed_get();
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let payload = sigv4::payload_sha256_hex(b"");
    let req = SignedRequest {
        method: "GET",
        raw_path: "/assets/obj-42",
        raw_query: "x-id=GetObject",
        headers: &pairs,
        payload_sha256_hex: &payload,
    };
    let auth = sigv4::parse_authorization(&auth_text).expect("parses");
    sigv4::verify(&req, &auth, SECRET, UriEncoding::S3).expect("the signature verifies");
    let mut g = c.benchmark_group("sigv4");
    g.bench_function("baseline: one signing-key derivation + HMAC", |b| {
        b.iter(|| {
            let key = sigv4::signing_key(black_box(SECRET), "20150830", "us-east-1", "s3");
            sigv4::signature_hex(&key, black_box("AWS4-HMAC-SHA256\n..."))
        })
    });
    g.bench_function("parse Authorization + verify GetObject", |b| {
        b.iter(|| {
            let auth = sigv4::parse_authorization(black_box(&auth_text)).expect("parses");
            sigv4::verify(black_box(&req), &auth, SECRET, UriEncoding::S3)
        })
    });
    g.finish();
}

fn policy(json: &str) -> iamstorm::sim::iam::policy::PolicyDocument {
    parse_policy(json, PolicyKind::Identity).expect("valid policy")
}

fn policy_eval(c: &mut Criterion) {
    const PRINCIPAL: &str = "arn:aws:sts::123456789012:assumed-role/app-role/i-0123";
    let small = policy(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/*"}]}"#,
    );
    // 40 statements, the match last: evaluation visits every one.
    let statements: Vec<String> = (0..40)
        .map(|i| {
            let action = if i == 39 { "s3:Get*" } else { "dynamodb:Query" };
            format!(
                r#"{{"Sid":"S{i}","Effect":"Allow","Action":["{action}","sqs:Send*"],"Resource":["arn:aws:s3:::assets/*","arn:aws:s3:::logs-{i}/*"]}}"#
            )
        })
        .collect();
    let large = policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    ));
    let conditions = policy(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/${aws:PrincipalTag/team}/*",
             "Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16"]},
                          "StringLike":{"s3:prefix":["home/*","public/*"]},
                          "Bool":{"aws:SecureTransport":"true"}}},
            {"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":"us-east-1"}}}]}"#,
    );
    let boundary = policy(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
    );
    let ctx = RequestContext::new(PRINCIPAL, "s3:GetObject", "arn:aws:s3:::assets/obj-42");
    let cond_ctx = RequestContext::new(PRINCIPAL, "s3:GetObject", "arn:aws:s3:::assets/web/obj-42")
        .with_key("aws:SourceIp", "10.1.2.3")
        .with_key("s3:prefix", "home/x")
        .with_key("aws:SecureTransport", "true")
        .with_key("aws:RequestedRegion", "us-east-1")
        .with_key("aws:PrincipalTag/team", "web");
    assert!(evaluate(&[PolicyRef::identity(&small, "small")], &ctx).is_allowed());
    assert!(evaluate(&[PolicyRef::identity(&large, "large")], &ctx).is_allowed());
    assert!(evaluate(&[PolicyRef::identity(&conditions, "cond")], &cond_ctx).is_allowed());
    let mut g = c.benchmark_group("policy evaluation");
    g.bench_function("baseline: small (1 statement)", |b| {
        b.iter(|| {
            evaluate(
                black_box(&[PolicyRef::identity(&small, "small")]),
                black_box(&ctx),
            )
        })
    });
    g.bench_function("large (40 statements, match last)", |b| {
        b.iter(|| {
            evaluate(
                black_box(&[PolicyRef::identity(&large, "large")]),
                black_box(&ctx),
            )
        })
    });
    g.bench_function("conditions (IP, StringLike, Bool, variable, deny)", |b| {
        b.iter(|| {
            evaluate(
                black_box(&[PolicyRef::identity(&conditions, "cond")]),
                black_box(&cond_ctx),
            )
        })
    });
    g.bench_function("small + permissions boundary", |b| {
        b.iter(|| {
            evaluate(
                black_box(&[
                    PolicyRef::identity(&small, "small"),
                    PolicyRef {
                        document: &boundary,
                        policy_type: PolicyType::PermissionsBoundary,
                        name: "boundary",
                    },
                ]),
                black_box(&ctx),
            )
        })
    });
    g.finish();
}

fn classifier(c: &mut Criterion) {
    let cases: [(Option<u16>, Option<&str>, Option<&str>); 4] = [
        (
            Some(503),
            Some("SlowDown"),
            Some("Please reduce your request rate."),
        ),
        (
            Some(403),
            Some("AccessDenied"),
            Some(
                "User: arn:aws:sts::123456789012:assumed-role/app-role/i-1 is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::assets/obj-1\" because no identity-based policy allows the s3:GetObject action",
            ),
        ),
        (
            Some(400),
            Some("ExpiredToken"),
            Some("The provided token has expired."),
        ),
        (Some(404), Some("NoSuchKey"), None),
    ];
    let mut g = c.benchmark_group("classifier");
    g.bench_function("classify 4 error answers", |b| {
        b.iter(|| {
            for (status, code, message) in &cases {
                black_box(classify_response(*status, *code, *message));
            }
        })
    });
    g.finish();
}

fn histogram(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram record");
    let mut bare =
        hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
    let mut n = 0u64;
    g.bench_function("baseline: hdrhistogram record", |b| {
        b.iter(|| {
            n = n.wrapping_add(7919);
            bare.record(black_box(100 + n % 50_000)).expect("in range")
        })
    });
    let mut metrics = Metrics::new(
        vec!["reads".into(), "writes".into()],
        Duration::from_secs(1),
    );
    let mut i = 0u64;
    g.bench_function(
        "Metrics::record (interval, op, class, corrected + raw)",
        |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                metrics.record(black_box(&Sample {
                    op: (i % 2) as usize,
                    class: if i.is_multiple_of(10) {
                        OutcomeClass::Throttled
                    } else {
                        OutcomeClass::Ok
                    },
                    // 10 intervals, then back: the open window stays bounded.
                    intended_offset: Duration::from_micros((i * 97) % 10_000_000),
                    latency_corrected_us: 100 + i % 50_000,
                    latency_raw_us: 90 + i % 40_000,
                    late: false,
                }))
            })
        },
    );
    g.finish();
}

fn scheduler(c: &mut Criterion) {
    let mut g = c.benchmark_group("scheduler");
    for (name, arrivals) in [
        ("uniform", Arrivals::Uniform),
        ("poisson", Arrivals::Poisson),
    ] {
        g.bench_function(format!("next arrival, ramp, {name}"), |b| {
            let mut schedule = new_schedule(arrivals);
            b.iter(|| match schedule.next_offset() {
                Some(at) => at,
                None => {
                    schedule = new_schedule(arrivals);
                    Duration::ZERO
                }
            })
        });
    }
    g.finish();
}

fn new_schedule(arrivals: Arrivals) -> Schedule {
    Schedule::new(
        RateProfile::Ramp {
            from_per_s: 100.0,
            to_per_s: 10_000.0,
        },
        Duration::from_secs(60),
        1.0,
        0.0,
        arrivals,
        7,
        1,
    )
}

criterion_group!(
    benches,
    sigv4_verify,
    policy_eval,
    classifier,
    histogram,
    scheduler
);
criterion_main!(benches);
