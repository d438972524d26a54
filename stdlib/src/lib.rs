//! The Hash standard library, embedded: the sources of the prelude and of the standard
//! modules (`list`, `map`, `str`, ...), written in Hash, compiled into every program
//! that uses them so that programs compile from any directory without an install.
//!
//! The files live in `stdlib/hash/NAME.hash`; [`source`] returns one by module name.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

/// The name of the prelude module, whose exported names are in scope in every file.
pub const PRELUDE: &str = "prelude";

/// Every bundled module, by name: the prelude first, then the modules that every file
/// may use by name without an import.
pub const MODULES: &[&str] = &[
    "prelude", "i64", "u64", "f64", "ibig", "ratio", "char", "str", "list", "array", "map", "io",
    "net",
];

/// The source of the bundled module `module` (a name from [`MODULES`]), or `None`.
pub fn source(module: &str) -> Option<&'static str> {
    Some(match module {
        "prelude" => include_str!("../hash/prelude.hash"),
        "i64" => include_str!("../hash/i64.hash"),
        "u64" => include_str!("../hash/u64.hash"),
        "f64" => include_str!("../hash/f64.hash"),
        "ibig" => include_str!("../hash/ibig.hash"),
        "ratio" => include_str!("../hash/ratio.hash"),
        "char" => include_str!("../hash/char.hash"),
        "str" => include_str!("../hash/str.hash"),
        "list" => include_str!("../hash/list.hash"),
        "array" => include_str!("../hash/array.hash"),
        "map" => include_str!("../hash/map.hash"),
        "io" => include_str!("../hash/io.hash"),
        "net" => include_str!("../hash/net.hash"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_has_a_source() {
        for m in MODULES {
            assert!(source(m).is_some_and(|s| !s.is_empty()), "{m}");
        }
        assert!(source("nope").is_none());
    }
}
