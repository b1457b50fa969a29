//! The `Link` header of a paginated list (RFC 8288, as the distribution spec uses it for
//! tags and the catalog): where the next page is.

use url::Url;

/// The target of the `rel="next"` link in a `Link` header value, resolved against `base`
/// (the URL of the page that carried it); `None` when there is none. A next link that is
/// not an `http(s)` URL is an error: the listing would end early, and look whole. A value
/// without the `<…>` around its target (`URL; rel="next"`) is read as skopeo reads it: the
/// target is what comes before the first `;`.
pub(crate) fn next_page(value: &str, base: &Url) -> Result<Option<Url>, String> {
    let bracketed = links(value)
        .find(|(_, params)| is_next(params))
        .map(|(target, _)| target);
    let bare = || {
        let (target, params) = value.split_once(';')?;
        (!value.contains('<') && is_next(params)).then_some(target)
    };
    let Some(target) = bracketed.or_else(bare) else {
        return Ok(None);
    };
    let unusable = |why: String| {
        let shown = crate::terminal_safe::terminal_safe(target).into_owned();
        format!("its next-page link {shown:?} is unusable: {why}")
    };
    let url = base
        .join(target.trim())
        .map_err(|e| unusable(e.to_string()))?;
    if !crate::endpoint::is_http(&url) {
        return Err(unusable("not an http or https URL".into()));
    }
    Ok(Some(url))
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

    /// A registry that leaves out the brackets still names its next page (skopeo reads it);
    /// the listing never ends early there.
    #[test]
    fn a_link_without_brackets_is_read_as_skopeo_reads_it() {
        let next = next_page(
            r#"https://r.example:5000/v2/team/app/tags/list?last=t09&n=10; rel="next""#,
            &base(),
        );
        assert_eq!(
            next.unwrap().unwrap().as_str(),
            "https://r.example:5000/v2/team/app/tags/list?last=t09&n=10"
        );
        let next = next_page(r#"/v2/team/app/tags/list?last=t09; rel=next"#, &base());
        assert_eq!(
            next.unwrap().unwrap().as_str(),
            "https://r.example:5000/v2/team/app/tags/list?last=t09"
        );
        assert_eq!(next_page(r#"/v2/x; rel="prev""#, &base()), Ok(None));
    }

    #[test]
    fn relative_link_resolves_against_the_page() {
        let next = next_page(
            r#"</v2/team/app/tags/list?last=t07&n=7>; rel="next""#,
            &base(),
        );
        assert_eq!(
            next.unwrap().unwrap().as_str(),
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
            next.unwrap().unwrap().as_str(),
            "http://other.example/v2/team/app/tags/list?last=b"
        );
    }

    #[test]
    fn only_the_next_relation_counts() {
        let v = r#"</first?a=1,2>; rel="first", </v2/x?last=a;b>; title="x"; REL="prev next""#;
        assert_eq!(
            next_page(v, &base()).unwrap().unwrap().as_str(),
            "https://r.example:5000/v2/x?last=a;b"
        );
        assert_eq!(next_page(r#"</v2/x>; rel="prev""#, &base()), Ok(None));
        assert_eq!(next_page("", &base()), Ok(None));
        assert_eq!(next_page("garbage <unclosed", &base()), Ok(None));
    }

    #[test]
    fn non_http_targets_are_errors_not_an_end() {
        let err = next_page(r#"<file:///etc/passwd>; rel="next""#, &base()).unwrap_err();
        assert!(
            err.contains("file:///etc/passwd") && err.contains("not an http"),
            "{err}"
        );
    }
}
