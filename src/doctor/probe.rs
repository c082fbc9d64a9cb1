//! The failing request itself, sent as the instance sends it: real SDK
//! clients whose credentials come from the instance's IMDS (retries off,
//! so every raw answer is seen), classified by `observe::classify`. Three
//! uses: one probe (runbook step 1), a short capped burst at a bounded
//! rate (step 5: throttling or denial, and the rate each appears at), and
//! repeated probes while a grant may be propagating (the FAQ).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::RequestId;

use super::evidence::{BurstEvidence, ProbeEvidence, PropagationEvidence};
use crate::observe::classify::classify_error;
use crate::observe::outcome::{Outcome, OutcomeClass};
use crate::target::Target;

/// Most requests in one burst, whatever `--burst` says.
pub const MAX_BURST_REQUESTS: u32 = 1000;
/// Highest burst rate, whatever `--burst-rate` says.
pub const MAX_BURST_RATE_PER_S: f64 = 500.0;
/// Longest `--propagation-wait`.
pub const MAX_PROPAGATION_WAIT: Duration = Duration::from_secs(600);
/// Gap between two propagation probes.
const PROPAGATION_PROBE_GAP: Duration = Duration::from_millis(200);
/// Consecutive allowed probes that end the wait (the change has settled).
const STABLE_PROBES: u32 = 5;

/// The SDK call that exercises an IAM action on a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeCall {
    S3GetObject { bucket: String, key: String },
    S3ListBucket { bucket: String },
    StsGetCallerIdentity,
    IamGetRole { name: String },
}

impl ProbeCall {
    /// The call for `action` on `resource`; `None` when the action has no
    /// read-only probe (the doctor then relies on the simulation).
    pub fn for_action(action: &str, resource: &str) -> Option<ProbeCall> {
        let s3_path = resource.strip_prefix("arn:aws:s3:::");
        match action.to_ascii_lowercase().as_str() {
            "s3:getobject" => {
                let (bucket, key) = s3_path?.split_once('/')?;
                (!bucket.is_empty() && !key.is_empty() && !key.contains('*')).then(|| {
                    ProbeCall::S3GetObject {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                    }
                })
            }
            "s3:listbucket" => {
                let bucket = s3_path?;
                (!bucket.is_empty() && !bucket.contains('/') && !bucket.contains('*')).then(|| {
                    ProbeCall::S3ListBucket {
                        bucket: bucket.to_owned(),
                    }
                })
            }
            "sts:getcalleridentity" => Some(ProbeCall::StsGetCallerIdentity),
            "iam:getrole" => {
                let name = resource.split(":role/").nth(1)?.rsplit('/').next()?;
                (!name.is_empty() && !name.contains('*')).then(|| ProbeCall::IamGetRole {
                    name: name.to_owned(),
                })
            }
            _ => None,
        }
    }

    pub fn label(&self) -> String {
        match self {
            ProbeCall::S3GetObject { bucket, key } => format!("s3 GetObject {bucket}/{key}"),
            ProbeCall::S3ListBucket { bucket } => format!("s3 ListObjectsV2 {bucket}"),
            ProbeCall::StsGetCallerIdentity => "sts GetCallerIdentity".to_owned(),
            ProbeCall::IamGetRole { name } => format!("iam GetRole {name}"),
        }
    }
}

/// The instance's SDK clients.
#[derive(Clone)]
pub struct InstanceClients {
    pub s3: aws_sdk_s3::Client,
    pub sts: aws_sdk_sts::Client,
    pub iam: aws_sdk_iam::Client,
}

/// Clients signing with credentials from the IMDS at `imds_endpoint`
/// (`aws-config`'s provider, as an app on the instance has), retries off.
pub fn instance_clients(target: &Target, imds_endpoint: &str) -> Result<InstanceClients, String> {
    let imds = aws_config::imds::Client::builder()
        .endpoint(imds_endpoint)
        .map_err(|e| format!("bad IMDS endpoint {imds_endpoint}: {e}"))?
        // Two tries, short timeouts: a diagnosis, not an app that must survive.
        .max_attempts(2)
        .connect_timeout(Duration::from_secs(1))
        .read_timeout(Duration::from_secs(1))
        .build();
    let provider = ImdsCredentialsProvider::builder().imds_client(imds).build();
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(target.region.clone()))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(10))
                .build(),
        )
        .credentials_provider(SharedCredentialsProvider::new(provider));
    if let Some(url) = &target.endpoint_url {
        builder.set_endpoint_url(Some(url.clone()));
    }
    let config = builder.build();
    Ok(InstanceClients {
        s3: crate::target::clients::instance_s3(&config, false),
        sts: crate::target::clients::sts(&config),
        iam: crate::target::clients::iam(&config),
    })
}

/// What one probe returned.
struct Sent {
    outcome: Outcome,
    error: Option<String>,
    request_id: Option<String>,
}

fn failed<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> Sent {
    let error = match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_owned(),
        _ => crate::target::error_chain(e),
    };
    Sent {
        outcome: classify_error(e),
        error: Some(error),
        request_id: e
            .raw_response()
            .and_then(|r| r.headers().get("x-amz-request-id").map(str::to_owned)),
    }
}

fn ok(request_id: Option<&str>) -> Sent {
    Sent {
        outcome: Outcome::new(OutcomeClass::Ok, None),
        error: None,
        request_id: request_id.map(str::to_owned),
    }
}

async fn send(clients: &InstanceClients, call: &ProbeCall) -> Sent {
    match call {
        ProbeCall::S3GetObject { bucket, key } => {
            // One byte is enough to prove access.
            match clients
                .s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .range("bytes=0-0")
                .send()
                .await
            {
                Ok(out) => {
                    let id = out.request_id().map(str::to_owned);
                    let _ = out.body.collect().await;
                    ok(id.as_deref())
                }
                Err(e) => failed(&e),
            }
        }
        ProbeCall::S3ListBucket { bucket } => {
            match clients
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .max_keys(1)
                .send()
                .await
            {
                Ok(out) => ok(out.request_id()),
                Err(e) => failed(&e),
            }
        }
        ProbeCall::StsGetCallerIdentity => match clients.sts.get_caller_identity().send().await {
            Ok(out) => ok(out.request_id()),
            Err(e) => failed(&e),
        },
        ProbeCall::IamGetRole { name } => {
            match clients.iam.get_role().role_name(name).send().await {
                Ok(out) => ok(out.request_id()),
                Err(e) => failed(&e),
            }
        }
    }
}

/// One probe.
pub async fn probe(clients: &InstanceClients, call: &ProbeCall) -> ProbeEvidence {
    let started = Instant::now();
    let sent = send(clients, call).await;
    ProbeEvidence {
        call: Some(call.label()),
        class: Some(sent.outcome.class.as_str().to_owned()),
        detail: sent.outcome.detail.clone(),
        error: sent.error,
        request_id: sent.request_id,
        latency_ms: started.elapsed().as_secs_f64() * 1e3,
    }
}

/// Runbook step 5: `requests` probes at `rate_per_s` (open loop: each
/// starts at its intended time, however slow the others are).
pub async fn burst(
    clients: &InstanceClients,
    call: &ProbeCall,
    requests: u32,
    rate_per_s: f64,
) -> BurstEvidence {
    let requests = requests.min(MAX_BURST_REQUESTS);
    let rate_per_s = rate_per_s.clamp(f64::MIN_POSITIVE, MAX_BURST_RATE_PER_S);
    let t0 = tokio::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..requests {
        tokio::time::sleep_until(t0 + Duration::from_secs_f64(f64::from(i) / rate_per_s)).await;
        let (clients, call) = (clients.clone(), call.clone());
        set.spawn(async move {
            let sent = send(&clients, &call).await;
            (t0.elapsed().as_secs_f64() * 1e3, sent.outcome)
        });
    }
    let mut b = BurstEvidence {
        requests,
        rate_per_s_target: rate_per_s,
        ..Default::default()
    };
    while let Some(done) = set.join_next().await {
        let Ok((at_ms, outcome)) = done else { continue };
        let class = outcome.class.as_str().to_owned();
        *b.counts.entry(class.clone()).or_default() += 1;
        let first = b.first_at_ms.entry(class.clone()).or_insert(at_ms);
        *first = first.min(at_ms);
        if let Some(d) = outcome.detail {
            *b.details.entry(format!("{class}:{d}")).or_default() += 1;
        }
    }
    b.duration_ms = t0.elapsed().as_secs_f64() * 1e3;
    let seconds = (b.duration_ms / 1e3).max(1e-3);
    b.rate_per_s = b
        .counts
        .iter()
        .map(|(c, n)| (c.clone(), *n as f64 / seconds))
        .collect::<BTreeMap<_, _>>();
    b
}

/// The FAQ: probe every [`PROPAGATION_PROBE_GAP`] for at most `limit`,
/// until [`STABLE_PROBES`] in a row are allowed.
pub async fn propagation(
    clients: &InstanceClients,
    call: &ProbeCall,
    limit: Duration,
) -> PropagationEvidence {
    let started = Instant::now();
    let mut p = PropagationEvidence {
        wait_limit_ms: limit.as_millis() as u64,
        ..Default::default()
    };
    let mut allowed_run = 0u32;
    let mut run_started_ms = None;
    let mut was_allowed = false;
    loop {
        let at_ms = started.elapsed().as_secs_f64() * 1e3;
        let sent = send(clients, call).await;
        p.probes += 1;
        match sent.outcome.class {
            OutcomeClass::Ok => {
                p.allowed_after_ms.get_or_insert(at_ms);
                if allowed_run == 0 {
                    run_started_ms = Some(at_ms);
                }
                allowed_run += 1;
                was_allowed = true;
            }
            OutcomeClass::AccessDenied => {
                p.denied_probes += 1;
                if was_allowed {
                    p.flaps += 1;
                }
                was_allowed = false;
                allowed_run = 0;
            }
            // Throttling or a transport hiccup says nothing either way.
            _ => {}
        }
        if allowed_run >= STABLE_PROBES {
            p.stable_after_ms = run_started_ms;
            break;
        }
        if started.elapsed() + PROPAGATION_PROBE_GAP > limit {
            if allowed_run > 0 {
                p.stable_after_ms = run_started_ms;
            }
            break;
        }
        tokio::time::sleep(PROPAGATION_PROBE_GAP).await;
    }
    p.waited_ms = started.elapsed().as_secs_f64() * 1e3;
    p
}

#[cfg(test)]
mod tests {
    use super::ProbeCall;

    #[test]
    fn actions_map_to_read_only_calls() {
        assert_eq!(
            ProbeCall::for_action("s3:GetObject", "arn:aws:s3:::assets/dir/obj-1"),
            Some(ProbeCall::S3GetObject {
                bucket: "assets".into(),
                key: "dir/obj-1".into()
            })
        );
        assert_eq!(
            ProbeCall::for_action("s3:GetObject", "arn:aws:s3:::assets/*"),
            None
        );
        assert_eq!(
            ProbeCall::for_action("s3:ListBucket", "arn:aws:s3:::assets"),
            Some(ProbeCall::S3ListBucket {
                bucket: "assets".into()
            })
        );
        assert_eq!(
            ProbeCall::for_action("s3:PutObject", "arn:aws:s3:::a/b"),
            None
        );
        assert_eq!(
            ProbeCall::for_action("iam:GetRole", "arn:aws:iam::123456789012:role/app-role"),
            Some(ProbeCall::IamGetRole {
                name: "app-role".into()
            })
        );
    }
}
