//! Listings against a registry played by a closure, in virtual time: pages followed as their
//! `Link` headers say, relative or absolute, and credentials kept to the registry's origin.

use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::http::{Request, ResponseHead};
use crate::{Credentials, Scheme};

const REGISTRY: &str = "r.example:5000";

/// Runs `listing` against `registry`.
fn run(
    listing: Listing,
    registry: impl FnMut(&Request) -> (ResponseHead, Vec<u8>),
) -> (Result<Listed, Error>, Vec<Request>) {
    crate::one_shot::testing::run(listing, Listing::poll, registry)
}

fn tags_plan(page_size: Option<u32>) -> ListPlan {
    ListPlan {
        registry: REGISTRY.into(),
        kind: ListKind::Tags {
            repository: "team/app".into(),
        },
        page_size,
    }
}

fn config(credentials: Option<Credentials>) -> RegistryConfig {
    RegistryConfig {
        scheme: Scheme::Https,
        credentials,
        ..RegistryConfig::default()
    }
}

fn query(req: &Request, key: &str) -> Option<String> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Tags `t00`..`t{count}` served `n` at a time after `last`, with a `Link` built by `link`
/// from the last tag of the page and `n`.
fn paged_tags(
    count: usize,
    link: impl Fn(&str, usize) -> String,
) -> impl FnMut(&Request) -> (ResponseHead, Vec<u8>) {
    let all: Vec<String> = (0..count).map(|i| format!("t{i:02}")).collect();
    move |req| {
        if req.url.path() == "/v2/" {
            return (ResponseHead::new(200), Vec::new());
        }
        let n: usize = query(req, "n").and_then(|n| n.parse().ok()).unwrap_or(100);
        let start = match query(req, "last") {
            Some(last) => all.iter().position(|t| *t == last).unwrap() + 1,
            None => 0,
        };
        let page = &all[start..(start + n).min(all.len())];
        let body = serde_json::json!({"name": "team/app", "tags": page});
        let mut head = ResponseHead::new(200);
        if start + n < all.len() {
            head = head.with_header("Link", &link(page.last().unwrap(), n));
        }
        (head, serde_json::to_vec(&body).unwrap())
    }
}

#[test]
fn tags_are_read_page_after_page_by_relative_links() {
    let listing = Listing::new(tags_plan(Some(7)), &config(None), Instant::ZERO);
    let registry = paged_tags(30, |last, n| {
        format!(r#"</v2/team/app/tags/list?last={last}&n={n}>; rel="next""#)
    });
    let (result, sent) = run(listing, registry);
    let listed = result.unwrap();
    assert_eq!(listed.pages, 5);
    assert_eq!(listed.name.as_deref(), Some("team/app"));
    let expected: Vec<String> = (0..30).map(|i| format!("t{i:02}")).collect();
    assert_eq!(listed.items, expected);
    let first = &sent[1];
    assert_eq!(
        first.url.as_str(),
        "https://r.example:5000/v2/team/app/tags/list?n=7"
    );
    assert!(sent[2..]
        .iter()
        .all(|r| query(r, "n").as_deref() == Some("7")));
}

/// Pages that overlap (a `Link` whose `last` is a few names back) list each name once
/// (found by probing: `tug ls` printed them twice, and a sync copied those images twice).
#[test]
fn names_pages_repeat_are_listed_once() {
    let listing = Listing::new(tags_plan(Some(7)), &config(None), Instant::ZERO);
    let all: Vec<String> = (0..20).map(|i| format!("t{i:02}")).collect();
    let registry = paged_tags(20, move |last, _| {
        let back = all
            .iter()
            .position(|t| t == last)
            .unwrap()
            .saturating_sub(3);
        format!(
            r#"</v2/team/app/tags/list?last={}&n=7>; rel="next""#,
            all[back]
        )
    });
    let (result, _) = run(listing, registry);
    let listed = result.unwrap();
    let expected: Vec<String> = (0..20).map(|i| format!("t{i:02}")).collect();
    assert_eq!(listed.items, expected);
}

#[test]
fn absolute_links_on_the_registry_are_followed() {
    let listing = Listing::new(tags_plan(Some(10)), &config(None), Instant::ZERO);
    let registry = paged_tags(25, |last, n| {
        format!("<https://{REGISTRY}/v2/team/app/tags/list?n={n}&last={last}>; rel=next")
    });
    let (result, _) = run(listing, registry);
    let listed = result.unwrap();
    assert_eq!((listed.pages, listed.items.len()), (3, 25));
}

#[test]
fn a_next_page_on_another_host_gets_no_credentials() {
    let creds = Credentials {
        username: "user".into(),
        password: "secret".into(),
    };
    let listing = Listing::new(tags_plan(Some(2)), &config(Some(creds)), Instant::ZERO);
    let mut pages = paged_tags(4, |last, n| {
        format!("<https://elsewhere.example/v2/team/app/tags/list?n={n}&last={last}>; rel=next")
    });
    let registry = |req: &Request| {
        let on_registry = req.url.host_str() == Some("r.example");
        if on_registry && !req.headers.contains_key("authorization") {
            let head = ResponseHead::new(401).with_header("WWW-Authenticate", r#"Basic realm="r""#);
            return (head, Vec::new());
        }
        pages(req)
    };
    let (result, sent) = run(listing, registry);
    assert_eq!(result.unwrap().items, ["t00", "t01", "t02", "t03"]);
    let elsewhere: Vec<&Request> = sent
        .iter()
        .filter(|r| r.url.host_str() == Some("elsewhere.example"))
        .collect();
    assert_eq!(elsewhere.len(), 1, "the second page was asked there");
    assert!(!elsewhere[0].headers.contains_key("authorization"));
    let first_page = sent
        .iter()
        .rfind(|r| r.url.path().ends_with("/tags/list") && r.url.host_str() == Some("r.example"))
        .unwrap();
    assert!(first_page.headers.contains_key("authorization"));
}

#[test]
fn a_link_back_to_a_page_already_read_is_an_error() {
    let listing = Listing::new(tags_plan(None), &config(None), Instant::ZERO);
    let registry = |req: &Request| {
        if req.url.path() == "/v2/" {
            return (ResponseHead::new(200), Vec::new());
        }
        let head =
            ResponseHead::new(200).with_header("Link", r#"</v2/team/app/tags/list>; rel="next""#);
        (head, br#"{"name":"team/app","tags":["a"]}"#.to_vec())
    };
    let (result, sent) = run(listing, registry);
    let error = result.unwrap_err().to_string();
    assert!(
        error.contains("points back to a page already read"),
        "{error}"
    );
    assert_eq!(sent.len(), 2);
}

#[test]
fn the_catalog_lists_repositories_with_its_own_scope_and_path() {
    let plan = ListPlan {
        registry: REGISTRY.into(),
        kind: ListKind::Catalog,
        page_size: Some(1),
    };
    let listing = Listing::new(plan, &config(None), Instant::ZERO);
    let registry = |req: &Request| {
        if req.url.path() == "/v2/" {
            return (ResponseHead::new(200), Vec::new());
        }
        assert_eq!(req.url.path(), "/v2/_catalog");
        match query(req, "last").as_deref() {
            None => (
                ResponseHead::new(200)
                    .with_header("Link", r#"</v2/_catalog?last=a&n=1>; rel="next""#),
                br#"{"repositories":["a"]}"#.to_vec(),
            ),
            Some(_) => (
                ResponseHead::new(200),
                br#"{"repositories":["b/c"]}"#.to_vec(),
            ),
        }
    };
    let (result, _) = run(listing, registry);
    let listed = result.unwrap();
    assert_eq!(listed.items, ["a", "b/c"]);
    assert_eq!(listed.name, None);
}

#[test]
fn an_unknown_repository_is_the_registry_s_error() {
    let listing = Listing::new(tags_plan(None), &config(None), Instant::ZERO);
    let registry = |req: &Request| {
        if req.url.path() == "/v2/" {
            return (ResponseHead::new(200), Vec::new());
        }
        let body = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#;
        (ResponseHead::new(404), body.to_vec())
    };
    let (result, _) = run(listing, registry);
    let error = result.unwrap_err();
    assert!(
        matches!(error, Error::Registry { status: 404, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("NAME_UNKNOWN"), "{error}");
}

#[test]
fn a_page_that_is_not_json_is_a_protocol_error() {
    let listing = Listing::new(tags_plan(None), &config(None), Instant::ZERO);
    let registry = |req: &Request| {
        if req.url.path() == "/v2/" {
            return (ResponseHead::new(200), Vec::new());
        }
        (ResponseHead::new(200), b"<html>".to_vec())
    };
    let (result, _) = run(listing, registry);
    assert!(matches!(result, Err(Error::Protocol { .. })), "{result:?}");
}

/// A registry that links on from every page to a new one: `names` says what each page lists.
fn endless(
    names: impl Fn(usize) -> Vec<String>,
) -> impl FnMut(&Request) -> (ResponseHead, Vec<u8>) {
    move |req| {
        if req.url.path() == "/v2/" {
            return (ResponseHead::new(200), Vec::new());
        }
        let page: usize = query(req, "page").and_then(|p| p.parse().ok()).unwrap_or(0);
        let link = format!(r#"</v2/team/app/tags/list?page={}>; rel="next""#, page + 1);
        let body = serde_json::json!({"name": "team/app", "tags": names(page)});
        let head = ResponseHead::new(200).with_header("Link", &link);
        (head, serde_json::to_vec(&body).unwrap())
    }
}

#[test]
fn pages_that_list_nothing_yet_link_on_end_the_listing() {
    let listing = Listing::new(tags_plan(None), &config(None), Instant::ZERO);
    // A few empty pages between full ones are the registry's business; only a long run of
    // them is an endless listing.
    let names = |page: usize| match page {
        0 | 50 => vec![format!("t{page}")],
        _ => Vec::new(),
    };
    let (result, sent) = run(listing, endless(names));
    let error = result.unwrap_err().to_string();
    assert!(
        error.contains(&format!(
            "{} pages in a row listed nothing",
            pager::MAX_EMPTY_PAGES
        )),
        "{error}"
    );
    // The version check, then page 0, 49 empty ones, page 50, and 100 empty ones.
    assert_eq!(sent.len(), 1 + 1 + 49 + 1 + pager::MAX_EMPTY_PAGES as usize);
}

#[test]
fn pages_that_go_on_past_the_most_names_end_the_listing() {
    let listing = Listing::new(tags_plan(None), &config(None), Instant::ZERO);
    let per_page = 50_000;
    let names = |page: usize| (0..per_page).map(|i| format!("t{page}-{i}")).collect();
    let (result, sent) = run(listing, endless(names));
    let error = result.unwrap_err().to_string();
    assert!(
        error.contains(&format!("go on past {} entries", pager::MAX_ENTRIES)),
        "{error}"
    );
    // The version check, then pages until the one that would pass the most.
    assert_eq!(sent.len(), 1 + pager::MAX_ENTRIES / per_page + 1);
}

/// One page of half a million tags (far past the core's 4 MiB manifest limit) is read
/// whole, as skopeo reads it; a page past [`MAX_PAGE`] fails naming the limit.
#[test]
fn a_page_larger_than_a_manifest_is_read_and_one_past_the_page_limit_is_refused() {
    let page = |count: usize| {
        let tags: Vec<String> = (0..count).map(|i| format!("tag-{i:07}")).collect();
        serde_json::to_vec(&serde_json::json!({"name": "team/app", "tags": tags})).unwrap()
    };
    let big = page(500_000);
    assert!(big.len() > crate::MAX_BODY_IN_MEMORY);
    let listing = Listing::new(tags_plan(None), &config(None), Instant::ZERO);
    let (result, _) = run(listing, |req| match req.url.path() {
        "/v2/" => (ResponseHead::new(200), Vec::new()),
        _ => (ResponseHead::new(200), big.clone()),
    });
    let listed = result.unwrap();
    assert_eq!(listed.items.len(), 500_000);
    assert_eq!(listed.items[499_999], "tag-0499999");

    let huge = vec![b' '; MAX_PAGE + 1];
    let listing = Listing::new(tags_plan(None), &config(None), Instant::ZERO);
    let (result, _) = run(listing, |req| match req.url.path() {
        "/v2/" => (ResponseHead::new(200), Vec::new()),
        _ => (ResponseHead::new(200), huge.clone()),
    });
    let err = result.unwrap_err().to_string();
    assert!(err.contains("larger than 64 MiB"), "{err}");
}
