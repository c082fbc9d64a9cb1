//! S3's error body, exactly: `<Error><Code/><Message/><RequestId/><HostId/>
//! </Error>`. s3s leaves out `<Message>` on the errors it raises itself
//! (SignatureDoesNotMatch, ...) and never writes `<RequestId>`/`<HostId>`;
//! the edge passes every S3 error body through [`finish_error_body`].

/// S3's message for codes s3s raises without one (ErrorResponses.html).
fn default_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "SignatureDoesNotMatch" => {
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        }
        "AccessDenied" => "Access Denied",
        "InvalidAccessKeyId" => "The AWS Access Key Id you provided does not exist in our records.",
        "RequestTimeTooSkewed" => {
            "The difference between the request time and the current time is too large."
        }
        "NoSuchKey" => "The specified key does not exist.",
        "NoSuchBucket" => "The specified bucket does not exist",
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "MalformedXML" => {
            "The XML you provided was not well-formed or did not validate against our published schema"
        }
        "InvalidBucketName" => "The specified bucket is not valid.",
        _ => return None,
    })
}

/// The `x-amz-id-2` value (S3's "host id") for request `id`: opaque, stable.
pub fn host_id(request_id: &str) -> String {
    use base64::Engine;
    // FNV-1a, then two mixes: 32 opaque hex digits (an MD5 per response
    // was 0.6 % of the double's CPU).
    let h = request_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let (a, b) = (crate::sim::rng::mix64(h), crate::sim::rng::mix64(!h));
    base64::engine::general_purpose::STANDARD.encode(format!("iamstorm/{a:016x}{b:016x}"))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Adds what S3 always sends and s3s may not: `<Message>` (when S3 has a
/// standard one), `<RequestId>` and `<HostId>`. Bodies that are not an S3
/// `<Error>` document are returned unchanged.
pub fn finish_error_body(body: &str, request_id: &str) -> Option<String> {
    let close = body.rfind("</Error>")?;
    let code = {
        let start = body.find("<Code>")? + "<Code>".len();
        let end = body[start..].find("</Code>")? + start;
        &body[start..end]
    };
    let mut extra = String::new();
    if !body.contains("<Message>")
        && let Some(m) = default_message(code)
    {
        extra.push_str(&format!("<Message>{}</Message>", escape(m)));
    }
    if !body.contains("<RequestId>") {
        extra.push_str(&format!("<RequestId>{}</RequestId>", escape(request_id)));
    }
    if !body.contains("<HostId>") {
        extra.push_str(&format!("<HostId>{}</HostId>", host_id(request_id)));
    }
    let mut out = String::with_capacity(body.len() + extra.len());
    out.push_str(&body[..close]);
    out.push_str(&extra);
    out.push_str(&body[close..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3s_bare_errors_get_message_request_id_and_host_id() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code></Error>"#;
        let out = finish_error_body(body, "00000000000000AB").expect("an S3 error");
        assert!(out.contains("<Message>The request signature we calculated does not match"));
        assert!(out.contains("<RequestId>00000000000000AB</RequestId>"));
        assert!(out.contains(&format!("<HostId>{}</HostId>", host_id("00000000000000AB"))));
        assert!(out.ends_with("</HostId></Error>"));
    }

    #[test]
    fn an_existing_message_is_kept_and_non_errors_untouched() {
        let body = "<Error><Code>AccessDenied</Code><Message>User: x</Message></Error>";
        let out = finish_error_body(body, "1").expect("an S3 error");
        assert_eq!(out.matches("<Message>").count(), 1);
        assert!(out.contains("User: x"));
        assert_eq!(finish_error_body("internal error", "1"), None);
    }
}
