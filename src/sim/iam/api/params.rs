//! Query-protocol parameter shapes IAM shares: lists (`X.member.N`),
//! tags, paths and `Marker`/`MaxItems` pagination.

use crate::sim::query::{Params, QueryError};

/// `Name.member.1`, `Name.member.2`, … — a Query-protocol list parameter.
pub fn member_list<'a>(params: &'a Params, name: &str) -> Vec<&'a str> {
    (1..)
        .map_while(|i| params.get(&format!("{name}.member.{i}")))
        .collect()
}

/// `Tags.member.N.Key` / `.Value` pairs.
pub fn tags(params: &Params) -> Vec<(String, String)> {
    (1..)
        .map_while(|i| {
            let key = params.get(&format!("Tags.member.{i}.Key"))?;
            let value = params
                .get(&format!("Tags.member.{i}.Value"))
                .unwrap_or_default();
            Some((key.to_owned(), value.to_owned()))
        })
        .collect()
}

pub fn path(params: &Params) -> Result<String, QueryError> {
    let path = params.get("Path").unwrap_or("/");
    if path.starts_with('/') && path.ends_with('/') && path.len() <= 512 {
        Ok(path.to_owned())
    } else {
        Err(QueryError::new(
            400,
            "ValidationError",
            format!(
                "The specified value for path is invalid: {path}. It must begin and end with / and contain only alphanumeric characters and/or / characters."
            ),
        ))
    }
}

/// `PathPrefix` (default `/`).
pub fn path_prefix(params: &Params) -> &str {
    params.get("PathPrefix").unwrap_or("/")
}

pub fn bool_param(params: &Params, name: &str) -> Result<bool, QueryError> {
    match params.get(name) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(QueryError::new(
            400,
            "ValidationError",
            format!(
                "1 validation error detected: Value '{v}' at '{name}' failed to satisfy constraint: Member must be a boolean"
            ),
        )),
    }
}

/// One page of `items` (`MaxItems` 1..=1000, default 100; the `Marker` is
/// the offset as text — an assumption, AWS's is opaque), rendered as list
/// members under `<list>` followed by `IsTruncated` and `Marker`.
pub fn page(params: &Params, list: &str, members: Vec<String>) -> Result<String, QueryError> {
    let max_items: usize = match params.get("MaxItems") {
        None => 100,
        Some(s) => s.parse().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
            QueryError::new(
                400,
                "ValidationError",
                format!("1 validation error detected: Value '{s}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000"),
            )
        })?,
    };
    let start: usize = match params.get("Marker") {
        None => 0,
        Some(m) => m
            .parse()
            .ok()
            .filter(|&n| n <= members.len())
            .ok_or_else(|| QueryError::new(400, "ValidationError", "Invalid Marker"))?,
    };
    let end = start.saturating_add(max_items).min(members.len());
    let body: String = members[start..end].concat();
    let more = if end < members.len() {
        format!("<IsTruncated>true</IsTruncated><Marker>{end}</Marker>")
    } else {
        "<IsTruncated>false</IsTruncated>".to_owned()
    };
    Ok(format!("<{list}>{body}</{list}>{more}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_markers() {
        let p = Params::parse(b"MaxItems=2", None);
        let items = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        assert_eq!(
            page(&p, "L", items.clone()).expect("page 1"),
            "<L>ab</L><IsTruncated>true</IsTruncated><Marker>2</Marker>"
        );
        let p = Params::parse(b"MaxItems=2&Marker=2", None);
        assert_eq!(
            page(&p, "L", items.clone()).expect("page 2"),
            "<L>c</L><IsTruncated>false</IsTruncated>"
        );
        let p = Params::parse(b"Marker=9", None);
        assert!(page(&p, "L", items).is_err());
    }

    #[test]
    fn tags_and_members_parse() {
        let p = Params::parse(
            b"Tags.member.1.Key=team&Tags.member.1.Value=blue&Tags.member.2.Key=x&A.member.1=one&A.member.3=gap",
            None,
        );
        assert_eq!(
            tags(&p),
            vec![("team".into(), "blue".into()), ("x".into(), String::new())]
        );
        assert_eq!(member_list(&p, "A"), vec!["one"]);
    }
}
