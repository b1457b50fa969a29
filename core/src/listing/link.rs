//! The `Link` header of a paginated list (RFC 8288, as the distribution spec uses it for
//! tags and the catalog): where the next page is.

use url::Url;

/// The target of the `rel="next"` link in a `Link` header value, resolved against `base`
/// (the URL of the page that carried it); `None` when there is none or it is not an
/// `http(s)` URL.
pub(crate) fn next_page(value: &str, base: &Url) -> Option<Url> {
    let target = links(value)
        .find(|(_, params)| is_next(params))
        .map(|(target, _)| target)?;
    let url = base.join(target.trim()).ok()?;
    crate::endpoint::is_http(&url).then_some(url)
}

/// The `(target, parameters)` of each link in a header value: `<target>; params, <…>; …`.
/// A target may hold commas and semicolons, so it is cut at its closing `>`.
fn links(value: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = value;
    std::iter::from_fn(move || {
        let open = rest.find('<')?;
        let after = &rest[open + 1..];
        let close = after.find('>')?;
        let target = &after[..close];
        let tail = &after[close + 1..];
        let end = tail.find('<').unwrap_or(tail.len());
        let params = &tail[..end];
        rest = &tail[end..];
        Some((target, params))
    })
}

/// Whether a link's parameters hold `rel` with the relation type `next` (quoted or not,
/// any case, possibly among others: `rel="next prev"`).
fn is_next(params: &str) -> bool {
    params.split(';').any(|param| {
        let Some((name, value)) = param.split_once('=') else {
            return false;
        };
        name.trim().eq_ignore_ascii_case("rel")
            && value
                .trim()
                .trim_matches('"')
                .split_ascii_whitespace()
                .any(|rel| rel.eq_ignore_ascii_case("next"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn base() -> Url {
        Url::parse("https://r.example:5000/v2/team/app/tags/list?n=7").unwrap()
    }

    #[test]
    fn relative_link_resolves_against_the_page() {
        let next = next_page(
            r#"</v2/team/app/tags/list?last=t07&n=7>; rel="next""#,
            &base(),
        );
        assert_eq!(
            next.unwrap().as_str(),
            "https://r.example:5000/v2/team/app/tags/list?last=t07&n=7"
        );
    }

    #[test]
    fn absolute_link_is_taken_as_it_is() {
        let next = next_page(
            "<http://other.example/v2/team/app/tags/list?last=b>; rel=next",
            &base(),
        );
        assert_eq!(
            next.unwrap().as_str(),
            "http://other.example/v2/team/app/tags/list?last=b"
        );
    }

    #[test]
    fn only_the_next_relation_counts() {
        let v = r#"</first?a=1,2>; rel="first", </v2/x?last=a;b>; title="x"; REL="prev next""#;
        assert_eq!(
            next_page(v, &base()).unwrap().as_str(),
            "https://r.example:5000/v2/x?last=a;b"
        );
        assert!(next_page(r#"</v2/x>; rel="prev""#, &base()).is_none());
        assert!(next_page("", &base()).is_none());
        assert!(next_page("garbage <unclosed", &base()).is_none());
    }

    #[test]
    fn non_http_targets_are_refused() {
        assert!(next_page(r#"<file:///etc/passwd>; rel="next""#, &base()).is_none());
    }
}
