//! The AWS Query protocol as STS and IAM speak it: a form-encoded POST in,
//! an XML document out (`<XResponse><XResult>…</XResult><ResponseMetadata>`
//! on success, `<ErrorResponse><Error>…` on failure).
//!
//! Only wire shapes live here; the services' behaviour is in `sts` and `iam`.

use std::collections::HashMap;

use bytes::Bytes;
use http::{Response, StatusCode};

use super::truth::RequestId;

pub const STS_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
pub const IAM_NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// Form parameters of one request. Keys are case-sensitive, as in AWS.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(body: &[u8], query: Option<&str>) -> Self {
        let mut map = HashMap::new();
        if let Some(q) = query {
            map.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        map.extend(form_urlencoded::parse(body).into_owned());
        Self(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A required parameter, or the `ValidationError` AWS sends for it.
    pub fn required(&self, key: &str) -> Result<&str, QueryError> {
        self.get(key).filter(|v| !v.is_empty()).ok_or_else(|| {
            QueryError::new(
                400,
                "ValidationError",
                format!("1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null", lower_first(key)),
            )
        })
    }

    /// Every parameter, in no particular order (for EC2's `Name.N` lists).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn action(&self) -> Option<&str> {
        self.get("Action")
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// An error a Query service answers with. Data, not a Rust failure.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl QueryError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// `Sender` for 4xx, `Receiver` for 5xx, as AWS sets `<Type>`.
    fn fault_type(&self) -> &'static str {
        if self.status >= 500 {
            "Receiver"
        } else {
            "Sender"
        }
    }
}

/// Escapes text for XML element content.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

/// `<Name>escaped</Name>`.
pub fn element(name: &str, text: &str) -> String {
    format!("<{name}>{}</{name}>", escape(text))
}

/// A success document for `action` with the given inner result XML.
pub fn success(namespace: &str, action: &str, result_xml: &str, id: RequestId) -> Response<Bytes> {
    let body = format!(
        "<{action}Response xmlns=\"{namespace}\">\n  <{action}Result>{result_xml}</{action}Result>\n  <ResponseMetadata><RequestId>{id}</RequestId></ResponseMetadata>\n</{action}Response>\n"
    );
    xml_response(StatusCode::OK, body, id)
}

/// An error document.
pub fn error(namespace: &str, err: &QueryError, id: RequestId) -> Response<Bytes> {
    let body = format!(
        "<ErrorResponse xmlns=\"{namespace}\">\n  <Error>\n    <Type>{}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{id}</RequestId>\n</ErrorResponse>\n",
        err.fault_type(),
        escape(&err.code),
        escape(&err.message),
    );
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
    xml_response(status, body, id)
}

fn xml_response(status: StatusCode, body: String, id: RequestId) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/xml"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&id.to_string()) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_parameters_are_decoded() {
        let p = Params::parse(
            b"Action=PutRolePolicy&PolicyDocument=%7B%22a%22%3A1%7D&RoleName=r",
            None,
        );
        assert_eq!(p.action(), Some("PutRolePolicy"));
        assert_eq!(p.get("PolicyDocument"), Some("{\"a\":1}"));
        assert!(p.required("Missing").is_err());
    }

    #[test]
    fn error_document_has_aws_shape() {
        let e = QueryError::new(400, "Throttling", "Rate exceeded");
        let resp = error(STS_NAMESPACE, &e, RequestId(1));
        assert_eq!(resp.status(), 400);
        assert_eq!(resp.headers()["x-amzn-requestid"], "0000000000000001");
    }

    #[test]
    fn escape_handles_markup() {
        assert_eq!(escape("<a&'\">"), "&lt;a&amp;&apos;&quot;&gt;");
    }
}
