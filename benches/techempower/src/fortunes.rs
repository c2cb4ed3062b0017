//! The fortunes page, rendered by askama (which escapes every message).

use askama::Template;

use crate::model::Fortune;

#[derive(Template)]
#[template(path = "fortunes.html")]
struct FortunesPage<'a> {
    fortunes: &'a [Fortune],
}

/// The page for the rows of `fortune`: adds the fortune TechEmpower requires at request time
/// (id 0), sorts by message (byte order) and renders the table.
pub fn fortunes_page(mut fortunes: Vec<Fortune>) -> askama::Result<String> {
    fortunes.push(Fortune {
        id: 0,
        message: "Additional fortune added at request time.".to_owned(),
    });
    fortunes.sort_unstable_by(|a, b| a.message.cmp(&b.message));
    FortunesPage {
        fortunes: &fortunes,
    }
    .render()
}
