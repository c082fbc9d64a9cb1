//! What the raw engine reads off an answer, in the services' wire shapes:
//! the request id header, the error code and message of an S3 error
//! (`<Error><Code/><Message/>`) or a Query error
//! (`<ErrorResponse><Error><Code/><Message/></Error>`), and what a transport
//! failure was — the inputs the shared classifier takes, so both engines
//! speak one vocabulary.

use std::error::Error;

use quick_xml::events::Event;

use crate::observe::outcome::{Outcome, OutcomeClass};

/// S3's request id header.
const S3_REQUEST_ID: &str = "x-amz-request-id";
/// The Query protocol's (STS, IAM).
const QUERY_REQUEST_ID: &str = "x-amzn-requestid";

/// The request id of an answer, from either service's header.
pub fn request_id(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get(S3_REQUEST_ID)
        .or_else(|| headers.get(QUERY_REQUEST_ID))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The first `<Code>` and `<Message>` of an error body; both shapes put
/// them in one `Error` element, so the first of each is the error's.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ErrorBody {
    pub code: Option<String>,
    pub message: Option<String>,
}

impl ErrorBody {
    /// Reads `body`; an empty or malformed body yields what was found
    /// before the problem (an S3 HEAD error has no body at all).
    pub fn parse(body: &[u8]) -> ErrorBody {
        let mut out = ErrorBody::default();
        let mut reader = quick_xml::Reader::from_reader(body);
        // Which field the current element fills, and its text so far.
        let mut filling: Option<(bool, String)> = None;
        loop {
            match reader.read_event() {
                Ok(Event::Start(e)) => {
                    filling = match e.name().as_ref() {
                        b"Code" if out.code.is_none() => Some((true, String::new())),
                        b"Message" if out.message.is_none() => Some((false, String::new())),
                        _ => None,
                    };
                }
                Ok(Event::Text(t)) => {
                    if let (Some((_, text)), Ok(chunk)) = (filling.as_mut(), t.decode()) {
                        text.push_str(&chunk);
                    }
                }
                Ok(Event::GeneralRef(r)) => {
                    if let Some((_, text)) = filling.as_mut() {
                        match (r.resolve_char_ref(), r.decode()) {
                            (Ok(Some(c)), _) => text.push(c),
                            (_, Ok(name)) => text.push_str(predefined_entity(&name)),
                            _ => {}
                        }
                    }
                }
                Ok(Event::End(_)) => match filling.take() {
                    Some((true, text)) => out.code = Some(text),
                    Some((false, text)) => out.message = Some(text),
                    None => {}
                },
                Ok(Event::Eof) | Err(_) => break,
                _ => {}
            }
            if out.code.is_some() && out.message.is_some() {
                break;
            }
        }
        out
    }
}

/// XML's five predefined entities; anything else is dropped.
fn predefined_entity(name: &str) -> &'static str {
    match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        _ => "",
    }
}

/// How a request failed without an answer, in the SDK classifier's words:
/// a connect timeout is `timeout`/`connector`, any other I/O failure
/// `connection`/`io`, the rest `connection`/`dispatch`.
pub fn transport_failure(err: &hyper_util::client::legacy::Error) -> Outcome {
    let io = io_source(err);
    if err.is_connect() && io.is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut) {
        return Outcome::new(OutcomeClass::Timeout, Some("connector".into()));
    }
    let detail = if io.is_some() || err.is_connect() {
        "io"
    } else {
        "dispatch"
    };
    Outcome::new(OutcomeClass::Connection, Some(detail.into()))
}

fn io_source<'a>(err: &'a (dyn Error + 'static)) -> Option<&'a std::io::Error> {
    let mut cur: Option<&'a (dyn Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_and_query_errors_give_code_and_message() {
        let s3 = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AccessDenied</Code><Message>User: arn:aws:sts::1:assumed-role/r/i is not authorized to perform: s3:GetObject on resource: &quot;arn:aws:s3:::b/k&quot; because no identity-based policy allows the s3:GetObject action</Message><RequestId>7</RequestId></Error>"#;
        let e = ErrorBody::parse(s3);
        assert_eq!(e.code.as_deref(), Some("AccessDenied"));
        let message = e.message.expect("message");
        assert!(
            message.contains("\"arn:aws:s3:::b/k\" because no"),
            "{message}"
        );
        let query = br#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>Throttling</Code>
    <Message>Rate exceeded</Message>
  </Error>
  <RequestId>0000000000000009</RequestId>
</ErrorResponse>"#;
        assert_eq!(
            ErrorBody::parse(query),
            ErrorBody {
                code: Some("Throttling".into()),
                message: Some("Rate exceeded".into())
            }
        );
    }

    #[test]
    fn empty_and_broken_bodies_give_what_there_is() {
        assert_eq!(ErrorBody::parse(b""), ErrorBody::default());
        assert_eq!(
            ErrorBody::parse(b"<Error><Code>SlowDown</Code><Mess"),
            ErrorBody {
                code: Some("SlowDown".into()),
                message: None
            }
        );
        assert_eq!(ErrorBody::parse(b"internal error: boom").code, None);
    }

    #[test]
    fn request_id_from_either_header() {
        let mut h = http::HeaderMap::new();
        assert_eq!(request_id(&h), None);
        h.insert(QUERY_REQUEST_ID, "q-1".parse().expect("header"));
        assert_eq!(request_id(&h).as_deref(), Some("q-1"));
        h.insert(S3_REQUEST_ID, "s3-1".parse().expect("header"));
        assert_eq!(request_id(&h).as_deref(), Some("s3-1"));
    }
}
