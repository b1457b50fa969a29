//! Paginated name lists of a registry: a repository's tags (`GET /v2/<name>/tags/list`) and
//! the catalog of repositories (`GET /v2/_catalog`), page after page as the `Link` header's
//! `rel="next"` says (`link`), with `?n=` asking for a page size.
//!
//! A next page on another origin is asked without credentials (the session only sends them
//! to the registry's own origin); a registry that would page forever is stopped ([`pager`]).

pub(crate) mod link;
pub mod pager;

use serde::Deserialize;
use url::Url;

use self::pager::Pager;
use crate::config::RegistryConfig;
use crate::engine::{Cx, Engine, Failure, Outbox, Parts, Protocol, Redirect, Response, Step};
use crate::error::Error;
use crate::http::{HeaderMap, ResponseHead};
use crate::one_shot::Output;
use crate::session::Session;
use crate::time::Instant;

/// Which list to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// The tags of a repository.
    Tags {
        /// The repository, e.g. `team/app`.
        repository: String,
    },
    /// The registry's repositories.
    Catalog,
}

/// What to list, and where.
#[derive(Clone, Debug)]
pub struct ListPlan {
    /// The registry's API host (and port).
    pub registry: String,
    /// Tags or repositories.
    pub kind: ListKind,
    /// Items per page to ask for (`?n=N`); `None`: the registry's default.
    pub page_size: Option<u32>,
}

/// A whole list, every page read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// The repository name the registry reports with its tags; `None` for the catalog.
    pub name: Option<String>,
    /// The names, in the registry's order, each once (pages that overlap repeat some).
    pub items: Vec<String>,
    /// Pages read.
    pub pages: u32,
}

/// What a page that is not the API's JSON is.
fn not_the_api(e: serde_json::Error) -> String {
    format!("the list is not the JSON the API defines: {e}")
}

/// The one request a listing makes at a time: the next page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page;

/// Reads a whole tag list or catalog.
#[derive(Debug)]
pub struct Listing {
    engine: Engine<Pages>,
}

impl Listing {
    /// A listing of `plan` with `config`, starting at `now` with the version check.
    pub fn new(plan: ListPlan, config: &RegistryConfig, now: Instant) -> Listing {
        let mut session = Session::new(&plan.registry, config, now);
        session = match &plan.kind {
            ListKind::Tags { repository } => session.scoped(repository, "pull"),
            ListKind::Catalog => {
                session.auth.add_scope("registry:catalog:*".into());
                session
            }
        };
        let pages = Pages {
            plan,
            next: None,
            asked: None,
            pager: Pager::default(),
            listed: Listed {
                name: None,
                items: Vec::new(),
                pages: 0,
            },
            seen: Default::default(),
            attempts: 1,
            redirect: Redirect::default(),
            outputs: Outbox::default(),
            done: false,
            page: Vec::new(),
            page_too_large: false,
        };
        Listing {
            engine: Engine::new(pages, session),
        }
    }
}

crate::engine::engine_api!(Listing, Output<Listed>);

/// The listing's protocol: one page at a time.
#[derive(Debug)]
struct Pages {
    plan: ListPlan,
    /// The next page's URL, from the last page's `Link`; `None`: the first page.
    next: Option<Url>,
    /// The URL the page in flight was asked at (what its `Link` is relative to).
    asked: Option<Url>,
    /// The pages read so far.
    pager: Pager,
    listed: Listed,
    /// The names listed so far: one a later page repeats (pages that overlap) is kept once.
    seen: std::collections::HashSet<String>,
    attempts: u32,
    redirect: Redirect,
    outputs: Outbox<Output<Listed>>,
    done: bool,
    /// The body of the page arriving (a `200` is streamed here, not capped at the core's
    /// manifest limit: a registry may list half a million tags on one page).
    page: Vec<u8>,
    /// The page arriving ran past [`MAX_PAGE`]: what came is dropped.
    page_too_large: bool,
}

/// The most bytes one page of a listing may hold (~5 million tags).
pub const MAX_PAGE: usize = 64 * 1024 * 1024;

/// A page of `tags/list`.
#[derive(Deserialize)]
struct TagsPage {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// A page of `_catalog`.
#[derive(Deserialize)]
struct CatalogPage {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

impl Pages {
    fn first_page(&self, cx: &Cx<Page>) -> Result<Url, Error> {
        let url = match &self.plan.kind {
            ListKind::Tags { repository } => cx.endpoint.tags_list(repository),
            ListKind::Catalog => cx.endpoint.catalog(),
        };
        let mut url = url.map_err(|e| Error::InvalidInput {
            message: format!("cannot build a URL for {}: {e}", cx.endpoint.host()),
        })?;
        if let Some(n) = self.plan.page_size {
            url.query_pairs_mut().append_pair("n", &n.to_string());
        }
        Ok(url)
    }

    fn finish(&mut self, result: Result<Listed, Error>) {
        if !self.done {
            self.done = true;
            self.outputs.push(Output::Finished(result));
        }
    }

    /// Takes in the names of the page asked at `asked`.
    fn take_page(&mut self, asked: Option<&Url>, body: &[u8]) -> Result<(), String> {
        let names = match self.plan.kind {
            ListKind::Tags { .. } => {
                let page: TagsPage = serde_json::from_slice(body).map_err(not_the_api)?;
                if self.listed.name.is_none() {
                    self.listed.name = page.name;
                }
                page.tags
            }
            ListKind::Catalog => {
                let page: CatalogPage = serde_json::from_slice(body).map_err(not_the_api)?;
                page.repositories
            }
        };
        let names = names.unwrap_or_default();
        if let Some(asked) = asked {
            self.pager.read(asked.clone(), names.len())?;
        }
        for name in names {
            if self.seen.insert(name.clone()) {
                self.listed.items.push(name);
            }
        }
        self.listed.pages += 1;
        Ok(())
    }
}

impl Protocol for Pages {
    type Step = Page;
    type Output = Output<Listed>;

    fn outbox(&mut self) -> &mut Outbox<Output<Listed>> {
        &mut self.outputs
    }

    fn describe(&self, _: Page) -> String {
        let page = self.listed.pages + 1;
        match &self.plan.kind {
            ListKind::Tags { repository } => {
                format!("listing the tags of {repository} (page {page})")
            }
            ListKind::Catalog => format!(
                "listing the repositories of {} (page {page})",
                self.plan.registry
            ),
        }
    }

    fn request(&mut self, _: Page, cx: &Cx<Page>) -> Result<Option<Parts>, Error> {
        let page = match &self.next {
            Some(url) => url.clone(),
            None => self.first_page(cx)?,
        };
        let url = self.redirect.target.clone().unwrap_or(page);
        self.asked = Some(url.clone());
        Ok(Some(Parts::get(url, HeaderMap::new())))
    }

    fn start(&mut self, cx: &mut Cx<Page>) {
        cx.issue(Step::Op(Page));
    }

    fn redirect(&mut self, _: Page) -> Option<&mut Redirect> {
        Some(&mut self.redirect)
    }

    fn on_head(&mut self, _: Page, head: &ResponseHead, _: &mut Cx<Page>) -> bool {
        // A page comes whole with each answer (a retry's too): only a `200` is a page.
        self.page.clear();
        self.page_too_large = false;
        head.status.as_u16() == 200
    }

    fn on_data(&mut self, _: Page, data: &[u8], _: &mut Cx<Page>) {
        if self.page.len() + data.len() > MAX_PAGE {
            self.page_too_large = true;
            self.page = Vec::new();
        }
        if !self.page_too_large {
            self.page.extend_from_slice(data);
        }
    }

    fn on_response(
        &mut self,
        _: Page,
        response: Response<'_>,
        cx: &mut Cx<Page>,
    ) -> Result<(), Failure> {
        if response.status() != 200 {
            return Err(Failure::Status);
        }
        let action = self.describe(Page);
        let asked = self.asked.take();
        let protocol = |message| {
            Failure::Error(Error::Protocol {
                action: action.clone(),
                message,
            })
        };
        if self.page_too_large {
            return Err(protocol(format!(
                "the page is larger than {} MiB, the most tug reads of one",
                MAX_PAGE >> 20
            )));
        }
        let page = std::mem::take(&mut self.page);
        self.take_page(asked.as_ref(), &page).map_err(protocol)?;
        let next = match (asked.as_ref(), response.head.header("link")) {
            (Some(base), Some(value)) => link::next_page(value, base).map_err(protocol)?,
            _ => None,
        };
        let Some(next) = next else {
            let listed = std::mem::replace(
                &mut self.listed,
                Listed {
                    name: None,
                    items: Vec::new(),
                    pages: 0,
                },
            );
            self.finish(Ok(listed));
            return Ok(());
        };
        self.pager.may_follow(&next).map_err(protocol)?;
        self.next = Some(next);
        self.redirect.clear();
        self.attempts = 1;
        cx.issue(Step::Op(Page));
        Ok(())
    }

    fn retry_as(&mut self, _: Page) -> Option<(Page, &mut u32)> {
        self.redirect.clear();
        Some((Page, &mut self.attempts))
    }

    fn fail(&mut self, _: Option<Page>, error: Error, _: &mut Cx<Page>) {
        self.finish(Err(error));
    }

    fn finished(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests;
