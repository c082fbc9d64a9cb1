//! A minimal EC2 Query client for the tests: requests signed by the real
//! `aws-sigv4` signer, sent over hyper, answers read with quick-xml. (The
//! `aws-sdk-ec2` crate is too large to build for a few calls.)

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use iamstorm::sim::SimHandle;

/// An EC2 answer: HTTP status and the XML body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// Text of every element named `tag`, in document order.
    pub fn texts(&self, tag: &str) -> Vec<String> {
        texts(&self.body, tag)
    }

    /// The first `tag`'s text.
    pub fn text(&self, tag: &str) -> Option<String> {
        self.texts(tag).into_iter().next()
    }

    /// The error code of an EC2 error document.
    pub fn code(&self) -> Option<String> {
        self.text("Code")
    }
}

/// Text content of every `<tag>` element (the harness's own reader).
pub use iamstorm::target::ec2::texts;

pub struct Ec2 {
    endpoint: String,
    region: String,
    creds: Credentials,
}

impl Ec2 {
    /// A client with the given keys against `sim`.
    pub fn new(sim: &SimHandle, creds: Credentials) -> Self {
        Self {
            endpoint: sim.endpoint_url(),
            region: sim.region.clone(),
            creds,
        }
    }

    /// The default admin keys against a double at `endpoint` (us-east-1).
    pub fn with_endpoint(endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            region: "us-east-1".to_owned(),
            creds: Credentials::new(
                iamstorm::sim::state::EXAMPLE_ACCESS_KEY_ID,
                iamstorm::sim::state::EXAMPLE_SECRET_ACCESS_KEY,
                None,
                None,
                "test",
            ),
        }
    }

    /// The operator's (admin keys).
    pub fn operator(sim: &SimHandle) -> Self {
        Self::new(
            sim,
            Credentials::new(
                sim.admin_access_key_id.clone(),
                sim.admin_secret_access_key.clone(),
                None,
                None,
                "test",
            ),
        )
    }

    /// Sends `Action=action` with `params`, SigV4-signed for service `ec2`.
    pub async fn call(&self, action: &str, params: &[(&str, &str)]) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", action)
            .append_pair("Version", "2016-11-15")
            .extend_pairs(params.iter().copied())
            .finish();
        let url = format!("{}/", self.endpoint);
        let mut req = http::Request::builder()
            .method("POST")
            .uri(&url)
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .header(
                "host",
                url.trim_start_matches("http://").trim_end_matches('/'),
            )
            .body(Full::new(Bytes::from(body.clone())))
            .expect("request builds");
        let identity = self.creds.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("ec2")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .expect("signing params")
            .into();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().expect("ascii").to_owned()))
            .collect();
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body.as_bytes()),
        )
        .expect("signable");
        let (instructions, _) = sign(signable, &params).expect("signs").into_parts();
        instructions.apply_to_request_http1x(&mut req);
        let client = Client::builder(TokioExecutor::new()).build_http();
        let resp = client.request(req).await.expect("the double answers");
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        Reply {
            status,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }
}

/// One plain HTTP request (IMDS, admin API); `Err` is a transport failure.
pub async fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Reply, String> {
    let mut builder = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let req = builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request builds");
    let client = Client::builder(TokioExecutor::new()).build_http();
    let resp = client.request(req).await.map_err(|e| format!("{e:?}"))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(Reply {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// IMDSv2: a token, then a GET of `path` under `/latest/meta-data/`.
pub async fn imds_get(imds: &str, path: &str) -> Reply {
    let token = http(
        "PUT",
        &format!("{imds}/latest/api/token"),
        &[("x-aws-ec2-metadata-token-ttl-seconds", "21600")],
        "",
    )
    .await
    .expect("IMDS answers the token PUT");
    assert_eq!(token.status, 200, "token PUT: {token:?}");
    http(
        "GET",
        &format!("{imds}/latest/meta-data/{path}"),
        &[("x-aws-ec2-metadata-token", &token.body)],
        "",
    )
    .await
    .expect("IMDS answers the GET")
}
