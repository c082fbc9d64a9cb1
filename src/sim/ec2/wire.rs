//! EC2's flavour of the Query protocol (botocore `protocol = "ec2"`): the
//! same form-encoded POST as STS/IAM, but its own XML —
//! `<XResponse xmlns=…><requestId>…</requestId>…</XResponse>` with lists
//! as `<xSet><item>…</item></xSet>`, errors as
//! `<Response><Errors><Error><Code>…` — and `Name.N` parameter lists.
//!
//! Only wire shapes live here; behaviour is in `actions`.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{Response, StatusCode};

use crate::sim::query::{Params, QueryError, escape};
use crate::sim::truth::RequestId;

pub const EC2_NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// A success document for `action` around `inner_xml`.
pub fn success(action: &str, inner_xml: &str, id: RequestId) -> Response<Bytes> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"{EC2_NAMESPACE}\">\n  <requestId>{id}</requestId>\n{inner_xml}\n</{action}Response>\n"
    );
    xml_response(StatusCode::OK, body, id)
}

/// An EC2 error document (note `RequestID`, not `RequestId`, as AWS sends it).
pub fn error(err: &QueryError, id: RequestId) -> Response<Bytes> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{id}</RequestID></Response>\n",
        escape(&err.code),
        escape(&err.message),
    );
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
    xml_response(status, body, id)
}

fn xml_response(status: StatusCode, body: String, id: RequestId) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&id.to_string()) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}

/// `<name>escaped</name>`.
pub fn el(name: &str, text: &str) -> String {
    format!("<{name}>{}</{name}>", escape(text))
}

/// `<name><item>…</item>…</name>` (an empty set is `<name/>`).
pub fn set(name: &str, items: &[String]) -> String {
    if items.is_empty() {
        return format!("<{name}/>");
    }
    let mut out = format!("<{name}>");
    for item in items {
        out.push_str("<item>");
        out.push_str(item);
        out.push_str("</item>");
    }
    out.push_str(&format!("</{name}>"));
    out
}

/// The values of a `prefix.N` list (`InstanceId.1`, `InstanceId.2`, …), in N order.
pub fn list(params: &Params, prefix: &str) -> Vec<String> {
    let mut found = BTreeMap::new();
    for (k, v) in params.iter() {
        if let Some(n) = k
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('.'))
            .and_then(|n| n.parse::<u32>().ok())
        {
            found.insert(n, v.to_owned());
        }
    }
    found.into_values().collect()
}

/// One `Filter.N`: a name and the values any of which may match.
#[derive(Debug, PartialEq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

/// Every `Filter.N.Name` with its `Filter.N.Value.M`s, in N order.
pub fn filters(params: &Params) -> Vec<Filter> {
    let mut by_n: BTreeMap<u32, (Option<String>, BTreeMap<u32, String>)> = BTreeMap::new();
    for (k, v) in params.iter() {
        let Some(rest) = k.strip_prefix("Filter.") else {
            continue;
        };
        let mut parts = rest.splitn(3, '.');
        let (Some(n), Some(field)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u32>() else { continue };
        let entry = by_n.entry(n).or_default();
        match (field, parts.next().and_then(|m| m.parse::<u32>().ok())) {
            ("Name", None) => entry.0 = Some(v.to_owned()),
            ("Value", Some(m)) => {
                entry.1.insert(m, v.to_owned());
            }
            _ => {}
        }
    }
    by_n.into_values()
        .filter_map(|(name, values)| {
            Some(Filter {
                name: name?,
                values: values.into_values().collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_filters_are_read_in_index_order() {
        let p = Params::parse(
            b"InstanceId.2=i-b&InstanceId.1=i-a&Filter.1.Name=instance-id&Filter.1.Value.2=x&Filter.1.Value.1=w&Filter.2.Name=instance-state-name&Filter.2.Value.1=running",
            None,
        );
        assert_eq!(list(&p, "InstanceId"), vec!["i-a", "i-b"]);
        assert_eq!(
            filters(&p),
            vec![
                Filter {
                    name: "instance-id".into(),
                    values: vec!["w".into(), "x".into()]
                },
                Filter {
                    name: "instance-state-name".into(),
                    values: vec!["running".into()]
                },
            ]
        );
    }

    #[test]
    fn error_document_has_ec2_shape() {
        let e = QueryError::new(503, "RequestLimitExceeded", "Request limit exceeded.");
        let r = error(&e, RequestId(7));
        assert_eq!(r.status(), 503);
        let body = String::from_utf8_lossy(r.body());
        assert!(
            body.contains("<Response><Errors><Error><Code>RequestLimitExceeded</Code>")
                && body.contains("<RequestID>0000000000000007</RequestID>"),
            "{body}"
        );
    }
}
