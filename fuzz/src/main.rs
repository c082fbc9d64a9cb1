//! A stable-Rust fuzz driver for iamstorm's parsers of outside input: a
//! seeded mutation loop over a seed corpus (the repository's own policies,
//! scenarios and AWS's SigV4 vectors), each input run under `catch_unwind`.
//! No coverage guidance (that needs cargo-fuzz, which needs nightly): the
//! mutations are structure-aware through per-target dictionaries instead.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml -- [--seconds N] [--seed S] [TARGET...]`
//! runs each target for N seconds (default 10), prints executions and
//! findings, writes every crashing input to `fuzz/crashes/TARGET/`, and
//! exits 1 when any target crashed.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iamstorm::sim::auth::sigv4::{self, SignedRequest, UriEncoding};
use iamstorm::sim::iam::eval::{self, PolicyRef, PolicyType, RequestContext};
use iamstorm::sim::iam::policy::{PolicyKind, parse_policy};
use iamstorm::sim::query::Params;
use iamstorm::sim::s3::facts::{self, RequestView};

/// One fuzz target: where its seeds come from, its dictionary, its body.
struct Target {
    name: &'static str,
    seeds: fn(&Path) -> Vec<Vec<u8>>,
    dictionary: &'static [&'static str],
    run: fn(&[u8]),
}

const TARGETS: &[Target] = &[
    Target {
        name: "policy",
        seeds: policy_seeds,
        dictionary: &[
            "\"Statement\"",
            "\"Effect\"",
            "\"Allow\"",
            "\"Deny\"",
            "\"Action\"",
            "\"NotAction\"",
            "\"Resource\"",
            "\"NotResource\"",
            "\"Principal\"",
            "\"Condition\"",
            "\"StringLike\"",
            "\"ForAllValues:StringEquals\"",
            "\"ForAnyValue:StringLike\"",
            "\"IpAddress\"",
            "\"DateGreaterThan\"",
            "\"NumericLessThanEquals\"",
            "\"Bool\"",
            "\"ArnLike\"",
            "IfExists",
            "\"Null\"",
            "${aws:username}",
            "${*}",
            "${",
            "}",
            "*",
            "?",
            "[",
            "]",
            "{",
            ",",
            ":",
            "\"",
            "\"2012-10-17\"",
            "\"2008-10-17\"",
            "arn:aws:s3:::",
            "10.0.0.0/8",
            "::1/128",
            "\"aws:SourceIp\"",
            "\"s3:prefix\"",
            "1e309",
            "-0",
            "null",
            "true",
        ],
        run: fuzz_policy,
    },
    Target {
        name: "sigv4",
        seeds: sigv4_seeds,
        dictionary: &[
            "AWS4-HMAC-SHA256",
            "Credential=",
            "SignedHeaders=",
            "Signature=",
            "/aws4_request",
            "20150830T123600Z",
            "us-east-1",
            "/",
            ";",
            ",",
            "=",
            " ",
            "\t",
            "%2F",
            "%",
            "%%",
            "..",
            "./",
            "//",
            "?",
            "&",
            "host",
            "x-amz-date",
            "\n",
            "UNSIGNED-PAYLOAD",
        ],
        run: fuzz_sigv4,
    },
    Target {
        name: "query",
        seeds: query_seeds,
        dictionary: &[
            "Action=",
            "&",
            "=",
            "%",
            "%00",
            "%FF",
            "+",
            "Version=2011-06-15",
            "RoleArn=",
            "Tags.member.1.Key=",
            ".member.",
            "PolicyDocument=",
            "%7B",
            "\u{0}",
        ],
        run: fuzz_query,
    },
    Target {
        name: "s3_path",
        seeds: s3_seeds,
        dictionary: &[
            "/",
            "?",
            "&",
            "=",
            "%",
            "%2F",
            "%ZZ",
            "prefix=",
            "delimiter=",
            "max-keys=",
            "list-type=2",
            "x-id=GetObject",
            "uploadId=",
            "partNumber=",
            "tagging",
            "..",
            "//",
            "#",
            "@",
            ":",
            "Credential=",
            "X-Amz-Credential=",
            "/aws4_request",
        ],
        run: fuzz_s3_path,
    },
    Target {
        name: "scenario",
        seeds: scenario_seeds,
        dictionary: &[
            "[[load]]",
            "[[fleet]]",
            "[[timeline]]",
            "[[sim.faults]]",
            "[sim.propagation]",
            "rate = ",
            "duration = ",
            "\"1ms\"",
            "\"0s\"",
            "\"999999999h\"",
            "{0..4294967295}",
            "{",
            "}",
            "..",
            "=",
            "\"",
            "'''",
            "\n",
            "at = ",
            "profile = ",
            "model = \"lognormal\"",
            "p99 = ",
            "median = ",
            "instances = ",
            "-1",
            "1e308",
            "nan",
            "inf",
            "0x7fffffff",
        ],
        run: fuzz_scenario,
    },
];

fn fuzz_policy(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for kind in [
        PolicyKind::Identity,
        PolicyKind::Trust,
        PolicyKind::Resource,
    ] {
        let Ok(document) = parse_policy(&text, kind) else {
            continue;
        };
        let policy_type = match kind {
            PolicyKind::Resource => PolicyType::ResourceBased,
            _ => PolicyType::IdentityBased,
        };
        let policies = [PolicyRef {
            document: &document,
            policy_type,
            name: "fuzz",
        }];
        // Context keys and the request taken from the input's tail, so
        // conditions and variables meet odd values too.
        let mut cut = text.len().saturating_sub(24);
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        let tail = &text[cut..];
        for (action, resource) in [
            ("s3:GetObject", "arn:aws:s3:::assets/obj-1"),
            ("s3:ListBucket", "arn:aws:s3:::assets"),
            ("sts:AssumeRole", "*"),
            (tail, tail),
        ] {
            let ctx = RequestContext::new(
                "arn:aws:sts::123456789012:assumed-role/app-role/i-1",
                action,
                resource,
            )
            .with_key("aws:SourceIp", "10.1.2.3")
            .with_key("aws:username", tail)
            .with_key("s3:prefix", tail)
            .with_key("aws:CurrentTime", "2026-01-01T00:00:00Z")
            .with_key("aws:MultiFactorAuthAge", tail);
            let decision = eval::evaluate(&policies, &ctx);
            let _ = format!("{decision:?}");
        }
        let keys = eval::ContextKeys::new();
        let _ = eval::trust_allows(
            &document,
            &eval::TrustPrincipal::Service("ec2.amazonaws.com"),
            "sts:AssumeRole",
            &keys,
        );
    }
}

fn fuzz_sigv4(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = sigv4::parse_authorization(&text);
    let _ = sigv4::parse_amz_date(&text);
    // The same bytes as a request: method, path, query, then headers.
    let mut lines = text.split('\n');
    let method = lines.next().unwrap_or("GET");
    let raw_path = lines.next().unwrap_or("/");
    let raw_query = lines.next().unwrap_or("");
    let pairs: Vec<(&str, &str)> = lines
        .map(|l| l.split_once(':').unwrap_or((l, "")))
        .collect();
    let mut signed: Vec<String> = pairs.iter().map(|(k, _)| k.to_ascii_lowercase()).collect();
    signed.sort();
    signed.dedup();
    let req = SignedRequest {
        method,
        raw_path,
        raw_query,
        headers: &pairs,
        payload_sha256_hex: "UNSIGNED-PAYLOAD",
    };
    for enc in [UriEncoding::S3, UriEncoding::Normalized] {
        if let Ok(canonical) = sigv4::canonical_request(&req, &signed, enc) {
            let sts = sigv4::string_to_sign("20150830T123600Z", "scope", &canonical);
            let key = sigv4::signing_key("secret", "20150830", "us-east-1", "s3");
            let _ = sigv4::signature_hex(&key, &sts);
        }
    }
    let _ = sigv4::signing_time(&req);
}

fn fuzz_query(data: &[u8]) {
    let (query, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (
            Some(String::from_utf8_lossy(&data[..i]).into_owned()),
            &data[i + 1..],
        ),
        None => (None, data),
    };
    let params = Params::parse(body, query.as_deref());
    let _ = params.action();
    let _ = params.required("Action");
    for (k, v) in params.iter() {
        let _ = iamstorm::sim::query::escape(k);
        let _ = iamstorm::sim::query::element("x", v);
    }
}

fn fuzz_s3_path(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (target, header) = text.split_once('\n').unwrap_or((&text, ""));
    let Ok(uri) = http::Uri::try_from(target) else {
        return;
    };
    let mut headers = http::HeaderMap::new();
    for (name, value) in [
        ("authorization", header),
        ("x-amz-tagging", header),
        ("x-amz-server-side-encryption", header),
    ] {
        if let Ok(v) = http::HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    }
    let _ = facts::signed_region(&uri, &headers);
    let _ = facts::tagging_header(&headers);
    for op in [
        "ListObjects",
        "ListObjectsV2",
        "GetObject",
        "PutObject",
        "CreateMultipartUpload",
    ] {
        let view = RequestView {
            op,
            uri: &uri,
            headers: &headers,
            peer: None,
            region: Some("us-east-1"),
            existing_tags: None,
        };
        let _ = facts::keys(&view);
    }
    let _ = iamstorm::sim::s3::wire::finish_error_body(&text, "0000000000000001");
}

fn fuzz_scenario(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let base = scenario_dir();
    if let Ok(scenario) = iamstorm::scenario::parse("fuzz.toml", &text, &base) {
        let _ = format!("{:?}", scenario.duration);
    }
}

/// Where scenario inputs resolve policy files: the repository's scenarios.
fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn read_dir_files(dir: &Path, ext: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            out.extend(read_dir_files(&path, ext));
        } else if path.extension().is_some_and(|e| e == ext)
            && let Ok(bytes) = std::fs::read(&path)
        {
            out.push(bytes);
        }
    }
    out
}

fn policy_seeds(root: &Path) -> Vec<Vec<u8>> {
    let mut seeds = read_dir_files(&root.join("scenarios/policies"), "json");
    seeds.extend(read_dir_files(&root.join("tests/data/policies"), "json"));
    // The evaluator table's documents, one seed each.
    for case in read_dir_files(&root.join("tests/data/iam-eval"), "json") {
        let Ok(text) = String::from_utf8(case) else {
            continue;
        };
        for (i, _) in text.match_indices("\"document\"") {
            if let Some(start) = text[i..].find('{') {
                let doc = &text[i + start..];
                let mut depth = 0usize;
                for (j, c) in doc.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                seeds.push(doc.as_bytes()[..=j].to_vec());
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    seeds
}

fn sigv4_seeds(root: &Path) -> Vec<Vec<u8>> {
    let mut seeds = read_dir_files(&root.join("tests/data/aws-signing-test-suite/v4"), "txt");
    seeds.truncate(200);
    seeds
}

fn query_seeds(_: &Path) -> Vec<Vec<u8>> {
    [
        "Action=GetCallerIdentity&Version=2011-06-15",
        "Version=2010-05-08\nAction=CreateRole&RoleName=r&AssumeRolePolicyDocument=%7B%22Version%22%3A%222012-10-17%22%7D",
        "Action=TagRole&RoleName=r&Tags.member.1.Key=k&Tags.member.1.Value=v",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn s3_seeds(_: &Path) -> Vec<Vec<u8>> {
    [
        "/assets?list-type=2&prefix=obj-&delimiter=/&max-keys=10\nAWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=abc",
        "/assets/obj-1?x-id=GetObject",
        "/assets/obj%2F1?X-Amz-Credential=AKID%2F20260101%2Feu-west-1%2Fs3%2Faws4_request\nk1=v1&k2=v2",
        "http://assets.s3.amazonaws.com/key?uploadId=1&partNumber=2",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn scenario_seeds(root: &Path) -> Vec<Vec<u8>> {
    read_dir_files(&root.join("scenarios"), "toml")
}

/// xorshift64*: reproducible from `--seed`, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Largest input built; keeps each execution short.
const MAX_INPUT_BYTES: usize = 64 * 1024;

/// One to four random edits of `input`.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>], dictionary: &[&str]) {
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len + 1);
                input.insert(i, rng.next() as u8);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                input.drain(i..i + n);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                let chunk = input[i..i + n].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, chunk);
            }
            4 | 5 => {
                let word = dictionary[rng.below(dictionary.len())].as_bytes();
                let at = rng.below(len + 1);
                input.splice(at..at, word.iter().copied());
            }
            6 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len() + 1);
                let to = from + rng.below(other.len() - from + 1);
                let at = rng.below(len + 1);
                input.truncate(at);
                input.extend_from_slice(&other[from..to]);
            }
            7 if len > 0 => input.truncate(rng.below(len)),
            8 if len > 0 => {
                // Interesting bytes: quotes, braces, NUL, high bytes, digits.
                let i = rng.below(len);
                const BYTES: &[u8] = b"\"{}[]\0\xff\xc3%\\09-.\n";
                input[i] = BYTES[rng.below(BYTES.len())];
            }
            _ => input.push(b'0' + rng.below(10) as u8),
        }
    }
    input.truncate(MAX_INPUT_BYTES);
}

struct Report {
    name: &'static str,
    executions: u64,
    crashes: Vec<(String, PathBuf)>,
    slowest: Duration,
}

fn fuzz(
    target: &Target,
    root: &Path,
    budget: Duration,
    seed: u64,
    last: &Arc<Mutex<String>>,
) -> Report {
    let mut corpus = (target.seeds)(root);
    let seed_dir = root.join("fuzz/corpus").join(target.name);
    corpus.extend(read_dir_files(&seed_dir, "seed"));
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    let mut rng = Rng(seed ^ 0x9E37_79B9_7F4A_7C15 ^ target.name.len() as u64);
    let mut report = Report {
        name: target.name,
        executions: 0,
        crashes: Vec::new(),
        slowest: Duration::ZERO,
    };
    let mut seen = std::collections::HashSet::new();
    let started = Instant::now();
    let mut next_seed = 0;
    while started.elapsed() < budget {
        // Every seed once as it is, then mutants.
        let input = if next_seed < corpus.len() {
            next_seed += 1;
            corpus[next_seed - 1].clone()
        } else {
            let mut input = corpus[rng.below(corpus.len())].clone();
            mutate(&mut rng, &mut input, &corpus, target.dictionary);
            input
        };
        let t = Instant::now();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(&input)));
        report.slowest = report.slowest.max(t.elapsed());
        report.executions += 1;
        if outcome.is_err() {
            let message = last.lock().map(|m| m.clone()).unwrap_or_default();
            // One file per distinct panic site.
            let site = message.split(" at ").last().unwrap_or("").to_owned();
            if seen.insert(site) {
                let mut h = DefaultHasher::new();
                input.hash(&mut h);
                let dir = root.join("fuzz/crashes").join(target.name);
                let _ = std::fs::create_dir_all(&dir);
                let path = dir.join(format!("{:016x}", h.finish()));
                let _ = std::fs::write(&path, &input);
                report.crashes.push((message, path));
            }
        } else if report.executions.is_multiple_of(64) && corpus.len() < 4096 && rng.below(8) == 0 {
            // Keep a few mutants as new starting points (no coverage signal).
            corpus.push(input);
        }
    }
    report
}

fn main() {
    let mut seconds = 10u64;
    let mut seed = 1u64;
    let mut only = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().and_then(|v| v.parse().ok()).unwrap_or(seconds),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).unwrap_or(seed),
            name if TARGETS.iter().any(|t| t.name == name) => only.push(name.to_owned()),
            other => {
                eprintln!(
                    "unknown argument {other:?}; usage: [--seconds N] [--seed S] [{}]",
                    TARGETS.iter().map(|t| t.name).collect::<Vec<_>>().join("|")
                );
                std::process::exit(2);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // Panics are findings: keep their message, not their noise.
    let last = Arc::new(Mutex::new(String::new()));
    let hook_last = last.clone();
    panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if let Ok(mut m) = hook_last.lock() {
            *m = format!("{payload} at {location}");
        }
    }));
    println!("iamstorm fuzz: seed {seed}, {seconds} s per target");
    let mut crashed = false;
    for target in TARGETS
        .iter()
        .filter(|t| only.is_empty() || only.iter().any(|o| o == t.name))
    {
        let r = fuzz(target, &root, Duration::from_secs(seconds), seed, &last);
        println!(
            "{:<9} {:>10} executions  {:>2} crashes  slowest {:.1} ms",
            r.name,
            r.executions,
            r.crashes.len(),
            r.slowest.as_secs_f64() * 1000.0
        );
        for (message, path) in &r.crashes {
            crashed = true;
            println!("  crash: {message}\n    input: {}", path.display());
        }
    }
    std::process::exit(i32::from(crashed));
}
