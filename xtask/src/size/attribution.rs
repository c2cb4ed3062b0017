//! Which crate each byte of `.text` comes from, read from the binary's symbol table with
//! `object` and `rustc-demangle` (no external tool). The rules follow cargo-bloat's: a
//! symbol belongs to the first crate of its path; `<A as B>::f` belongs to `A`'s crate
//! unless `A` is a std or primitive type, then to `B`'s; drop glue belongs to the type
//! dropped; the standard library's crates are one `std` line. Bytes of `.text` no sized
//! Rust symbol covers (padding, C symbols) are `unattributed`. It is an estimate:
//! inlined code counts for the crate it was inlined into.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

/// The standard library and the crates only it links into a probe.
const STD_CRATES: &[&str] = &[
    "std",
    "core",
    "alloc",
    "panic_unwind",
    "panic_abort",
    "compiler_builtins",
    "std_detect",
    "unwind",
    "addr2line",
    "gimli",
    "miniz_oxide",
    "adler2",
    "rustc_demangle",
];

pub(crate) const UNATTRIBUTED: &str = "unattributed";

/// `.text` of one binary, by crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextByCrate {
    pub(crate) text_bytes: u64,
    /// Crate name (`std` for the standard library, [`UNATTRIBUTED`] for the rest) to bytes.
    pub(crate) crates: BTreeMap<String, u64>,
}

/// Reads `.text` and its symbols from an unstripped binary.
pub(crate) fn of_binary(path: &Path) -> Result<TextByCrate> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let file = object::File::parse(&*data)
        .with_context(|| format!("{} is not an object file", path.display()))?;
    let text = file
        .section_by_name(".text")
        .with_context(|| format!("{} has no .text section", path.display()))?;
    let mut seen = HashSet::new();
    let mut crates: BTreeMap<String, u64> = BTreeMap::new();
    let mut attributed = 0;
    for symbol in file.symbols() {
        if symbol.kind() != SymbolKind::Text
            || symbol.size() == 0
            || symbol.section_index() != Some(text.index())
            || !seen.insert(symbol.address())
        {
            continue;
        }
        let Ok(name) = symbol.name() else { continue };
        let Some(krate) = crate_of_mangled(name) else {
            continue;
        };
        *crates.entry(krate).or_default() += symbol.size();
        attributed += symbol.size();
    }
    let rest = text.size().saturating_sub(attributed);
    if rest > 0 {
        *crates.entry(UNATTRIBUTED.to_owned()).or_default() += rest;
    }
    Ok(TextByCrate {
        text_bytes: text.size(),
        crates,
    })
}

/// The crate of a mangled symbol; `None` when it is not a Rust symbol.
fn crate_of_mangled(mangled: &str) -> Option<String> {
    let demangled = rustc_demangle::try_demangle(mangled).ok()?;
    Some(crate_of(&format!("{demangled:#}")))
}

/// The crate of a demangled symbol (without its hash).
pub(crate) fn crate_of(symbol: &str) -> String {
    let krate = if let Some(inner) = symbol.strip_prefix('<') {
        let inner = &inner[..closing(inner).unwrap_or(inner.len())];
        match split_as(inner) {
            Some((self_ty, trait_path)) => match first_crate(self_ty) {
                Some(c) if !is_std(c) => Some(c),
                self_crate => first_crate(trait_path).or(self_crate),
            },
            None => first_crate(inner),
        }
    } else if let Some(dropped) = symbol
        .strip_prefix("core::ptr::drop_in_place<")
        .and_then(|rest| rest.strip_suffix('>'))
    {
        first_crate(dropped).filter(|c| !is_std(c)).or(Some("core"))
    } else {
        first_crate(symbol)
    };
    match krate {
        Some(c) if is_std(c) => "std".to_owned(),
        Some(c) => c.to_owned(),
        None => UNATTRIBUTED.to_owned(),
    }
}

fn is_std(krate: &str) -> bool {
    STD_CRATES.contains(&krate)
}

/// The index of the `>` closing the `<` already consumed.
fn closing(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '<' => depth += 1,
            '>' if depth == 0 => return Some(i),
            '>' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Splits `A as B` at the ` as ` outside any `<...>`.
fn split_as(s: &str) -> Option<(&str, &str)> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            ' ' if depth == 0 && s[i..].starts_with(" as ") => return Some((&s[..i], &s[i + 4..])),
            _ => {}
        }
    }
    None
}

/// The first path segment of a type or path, past references, pointers, slices and `dyn`.
fn first_crate(s: &str) -> Option<&str> {
    let mut s = s.trim();
    loop {
        let before = s;
        for prefix in ["&", "mut ", "*const ", "*mut ", "dyn ", "[", "(", "impl "] {
            s = s.strip_prefix(prefix).unwrap_or(s).trim_start();
        }
        if s == before {
            break;
        }
    }
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    let segment = &s[..end];
    // A lone segment (`u8`, `T`, `str`) is a primitive or a generic: no crate.
    let is_path = s[end..].starts_with("::");
    (is_path && !segment.is_empty()).then_some(segment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_belong_to_their_first_segment() {
        assert_eq!(
            crate_of("hyper::proto::h1::conn::Conn<I,B,T>::poll_read_head"),
            "hyper"
        );
        assert_eq!(
            crate_of("allframe_core::routing::RouterService<S>::handle"),
            "allframe_core"
        );
        assert_eq!(crate_of("core::fmt::write"), "std");
        assert_eq!(crate_of("alloc::raw_vec::finish_grow"), "std");
        assert_eq!(crate_of("main"), UNATTRIBUTED);
    }

    #[test]
    fn trait_impls_belong_to_the_self_type_unless_it_is_std() {
        assert_eq!(
            crate_of(
                "<hyper::proto::h1::role::Server as hyper::proto::h1::Http1Transaction>::parse"
            ),
            "hyper"
        );
        assert_eq!(
            crate_of("<alloc::vec::Vec<T> as serde::ser::Serialize>::serialize"),
            "serde"
        );
        assert_eq!(crate_of("<&T as core::fmt::Debug>::fmt"), "std");
        assert_eq!(
            crate_of("<u64 as serde_json::value::index::Index>::index_into"),
            "serde_json"
        );
        assert_eq!(
            crate_of("<tokio::net::tcp::stream::TcpStream>::poll_read_priv"),
            "tokio"
        );
        assert_eq!(
            crate_of("<[mio::event::Event] as core::fmt::Debug>::fmt"),
            "mio",
            "slices of a crate's type belong to that crate"
        );
    }

    #[test]
    fn drop_glue_belongs_to_the_dropped_type() {
        assert_eq!(
            crate_of("core::ptr::drop_in_place<hyper::body::incoming::Incoming>"),
            "hyper"
        );
        assert_eq!(
            crate_of("core::ptr::drop_in_place<alloc::string::String>"),
            "std"
        );
        assert_eq!(
            crate_of("core::ptr::drop_in_place<&mut h2::frame::Frame>"),
            "h2"
        );
    }

    #[test]
    fn mangled_symbols_are_demangled_first() {
        // `<hyper::error::Error as core::fmt::Display>::fmt`, legacy mangling.
        let mangled = "_ZN58_$LT$hyper..error..Error$u20$as$u20$core..fmt..Display$GT$3fmt17h6480ee5a7e43fc9cE";
        assert_eq!(crate_of_mangled(mangled).as_deref(), Some("hyper"));
        assert_eq!(
            crate_of_mangled("memcpy"),
            None,
            "C symbols are not attributed"
        );
    }

    #[test]
    fn a_real_binary_is_attributed_completely() {
        // The xtask binary running this test: its .text is all accounted for.
        let exe = std::env::current_exe().unwrap();
        let text = of_binary(&exe).unwrap();
        assert!(text.text_bytes > 0);
        assert_eq!(text.crates.values().sum::<u64>(), text.text_bytes);
        assert!(
            text.crates.get("std").copied().unwrap_or(0) > 0,
            "{:?}",
            text.crates
        );
    }
}
