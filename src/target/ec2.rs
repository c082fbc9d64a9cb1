//! A minimal EC2 Query client for the few calls the timeline makes
//! (instance-profile associations, reboots): requests signed by the SDK's own
//! signer (`aws-sigv4`), sent over hyper, answers read with quick-xml. The
//! `aws-sdk-ec2` crate is too large to build on 2 cores for four calls.
//! Errors from the target are data: `Code: message`.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use quick_xml::events::Event;

/// The EC2 API version the double speaks.
const API_VERSION: &str = "2016-11-15";

/// An EC2 Query client with static keys.
#[derive(Clone, Debug)]
pub struct Ec2Client {
    endpoint: String,
    region: String,
    creds: Credentials,
}

/// Text content of every `<tag>` element, in document order.
pub fn texts(xml: &str, tag: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    let mut inside = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => inside = e.name().as_ref() == tag.as_bytes(),
            Ok(Event::Text(t)) if inside => {
                out.push(t.decode().map(|c| c.into_owned()).unwrap_or_default());
                inside = false;
            }
            Ok(Event::End(_)) => inside = false,
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

impl Ec2Client {
    pub fn new(endpoint: &str, region: &str, access_key_id: &str, secret_access_key: &str) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            region: region.to_owned(),
            creds: Credentials::new(access_key_id, secret_access_key, None, None, "iamstorm"),
        }
    }

    /// A client signing with `creds` as they are (a session token included:
    /// the default chain on an instance yields temporary credentials).
    pub fn with_credentials(endpoint: &str, region: &str, creds: Credentials) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            region: region.to_owned(),
            creds,
        }
    }

    /// `Action=action` with `params`; the XML body on 2xx, `Code: message` otherwise.
    pub async fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<String, String> {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", action)
            .append_pair("Version", API_VERSION)
            .extend_pairs(params.iter().copied())
            .finish();
        let url = format!("{}/", self.endpoint);
        let host = url
            .split("://")
            .nth(1)
            .unwrap_or(&url)
            .trim_end_matches('/')
            .to_owned();
        let mut req = http::Request::builder()
            .method("POST")
            .uri(&url)
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .header("host", host)
            .body(Full::new(Bytes::from(body.clone())))
            .map_err(|e| format!("ClientError: {e}"))?;
        let identity = self.creds.clone().into();
        let signing = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("ec2")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("ClientError: {e}"))?
            .into();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_owned())))
            .collect();
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| format!("ClientError: {e}"))?;
        let (instructions, _) = sign(signable, &signing)
            .map_err(|e| format!("ClientError: {e}"))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut req);
        let client = Client::builder(TokioExecutor::new()).build_http();
        let resp = client
            .request(req)
            .await
            .map_err(|e| format!("Unreachable: {e}"))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("Unreachable: {e}"))?
            .to_bytes();
        let xml = String::from_utf8_lossy(&bytes).into_owned();
        if (200..300).contains(&status) {
            Ok(xml)
        } else {
            let code = texts(&xml, "Code")
                .into_iter()
                .next()
                .unwrap_or(format!("HTTP {status}"));
            let message = texts(&xml, "Message")
                .into_iter()
                .next()
                .unwrap_or_default();
            Err(format!("{code}: {message}"))
        }
    }
}
