//! What keeps a paged answer (tags, the catalog, referrers) from running forever: a
//! registry may link on from page to page as long as it likes, so paging stops with an error
//! at a link back to a page already read, after too many pages in a row that list nothing,
//! past too many entries in all, or past too many pages (a registry listing one name a page
//! would otherwise keep a listing going for hours before it reached the most entries).

use std::collections::HashSet;

use url::Url;

/// The most entries a paged answer is taken in with. A registry whose pages go on past it is
/// refused, so memory stays bounded however long its pages run (distribution's default page
/// is 100 names).
pub const MAX_ENTRIES: usize = 1_000_000;

/// The most pages in a row that list nothing yet link onward.
pub const MAX_EMPTY_PAGES: u32 = 100;

/// The most pages a paged answer is read in: twice what [`MAX_ENTRIES`] takes at
/// distribution's default page of 100 names.
pub const MAX_PAGES: usize = 20_000;

/// The pages of one paged answer read so far.
#[derive(Debug, Default)]
pub(crate) struct Pager {
    /// Every page asked: a link back to one of them is a loop.
    asked: HashSet<Url>,
    /// Pages in a row that listed nothing.
    empty_in_a_row: u32,
    /// Entries taken in so far.
    entries: usize,
    /// Pages read so far.
    pages: usize,
}

impl Pager {
    /// Takes in the page asked at `asked`, which lists `entries` entries; an error says why
    /// the answer is refused (too many entries in all).
    pub(crate) fn read(&mut self, asked: Url, entries: usize) -> Result<(), String> {
        self.asked.insert(asked);
        self.empty_in_a_row = match entries {
            0 => self.empty_in_a_row + 1,
            _ => 0,
        };
        self.entries += entries;
        self.pages += 1;
        if self.pages > MAX_PAGES {
            return Err(format!(
                "its pages go on past {MAX_PAGES} pages ({} entries), more than tug reads",
                self.entries
            ));
        }
        match self.entries > MAX_ENTRIES {
            true => Err(format!(
                "its pages go on past {MAX_ENTRIES} entries, more than tug takes in"
            )),
            false => Ok(()),
        }
    }

    /// Whether the page a `Link` names may be asked next; an error says why not.
    pub(crate) fn may_follow(&self, next: &Url) -> Result<(), String> {
        if self.asked.contains(next) {
            return Err(format!(
                "its next-page link points back to a page already read ({next})"
            ));
        }
        if self.empty_in_a_row >= MAX_EMPTY_PAGES {
            return Err(format!(
                "{} pages in a row listed nothing yet linked to another: it would be paged \
                 forever",
                self.empty_in_a_row
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn page(n: u32) -> Url {
        Url::parse(&format!("https://r.example/v2/_catalog?page={n}")).unwrap()
    }

    #[test]
    fn empty_pages_between_full_ones_are_followed_but_not_a_long_run_of_them() {
        let mut pager = Pager::default();
        pager.read(page(0), 3).unwrap();
        for n in 1..MAX_EMPTY_PAGES {
            pager.read(page(n), 0).unwrap();
            pager.may_follow(&page(n + 1)).unwrap();
        }
        pager.read(page(MAX_EMPTY_PAGES), 1).unwrap();
        for n in 1..=MAX_EMPTY_PAGES {
            pager.read(page(MAX_EMPTY_PAGES + n), 0).unwrap();
        }
        let error = pager.may_follow(&page(3 * MAX_EMPTY_PAGES)).unwrap_err();
        assert!(
            error.contains("100 pages in a row listed nothing"),
            "{error}"
        );
    }

    #[test]
    fn a_link_back_is_refused_and_so_are_too_many_entries() {
        let mut pager = Pager::default();
        pager.read(page(0), MAX_ENTRIES - 1).unwrap();
        assert!(pager
            .may_follow(&page(0))
            .unwrap_err()
            .contains("points back"));
        pager.may_follow(&page(1)).unwrap();
        pager.read(page(1), 1).unwrap();
        let error = pager.read(page(2), 1).unwrap_err();
        assert!(error.contains("past 1000000 entries"), "{error}");
    }

    /// A registry listing one name a page, each page linking to a new one, is stopped
    /// after [`MAX_PAGES`] pages, long before [`MAX_ENTRIES`].
    #[test]
    fn a_name_a_page_without_end_is_stopped_at_the_most_pages() {
        let mut pager = Pager::default();
        for n in 0..MAX_PAGES as u32 {
            pager.read(page(n), 1).unwrap();
            pager.may_follow(&page(n + 1)).unwrap();
        }
        let error = pager.read(page(MAX_PAGES as u32), 1).unwrap_err();
        assert!(error.contains("past 20000 pages"), "{error}");
    }
}
