//! `:info NAME` / `:doc NAME`: what a name of the session or of a standard module is,
//! and the comment written just above its declaration (the standard library documents
//! every function with `///` lines there).

use hashvm_compiler::codegen::module_key;
use hashvm_compiler::modgraph::SessionFile;
use hashvm_compiler::tast::{ModuleKind, TItem, TItemKind, TypedProgram};

/// `NAME : TYPE` and the doc comment of `name` (`f`, `list.map`, `Point`), looked up
/// in the session's pieces (newest first), then the prelude; `MODULE.NAME` in that
/// standard module or in a module the session imported under that name. `None` when
/// it is not a top-level declaration.
pub fn describe(prog: &TypedProgram, name: &str, files: &[SessionFile]) -> Option<String> {
    let name = name.trim();
    let (module, item) = match name.split_once('.') {
        Some((m, x)) => {
            let target = prog
                .modules
                .iter()
                .copied()
                .find(|&id| matches!(&prog.module(id).kind, ModuleKind::Stdlib(n) if n == m));
            // `l.len` after `l := import("list")`: the imported module.
            let target = target.or_else(|| {
                session_items(prog, files).find_map(|it| match it.kind {
                    TItemKind::Import(t) if it.name == m => Some(t),
                    _ => None,
                })
            })?;
            (target, x)
        }
        None => {
            if let Some(it) = session_items(prog, files).find(|it| it.name == name) {
                return Some(render(prog, name, it));
            }
            (prog.prelude, name)
        }
    };
    let it = prog.module(module).items.iter().find(|i| i.name == item)?;
    Some(render(prog, name, it))
}

/// The items of the session's pieces, the newest piece first.
fn session_items<'p>(
    prog: &'p TypedProgram,
    files: &'p [SessionFile],
) -> impl Iterator<Item = &'p TItem> + 'p {
    files.iter().rev().flat_map(move |f| {
        prog.modules
            .iter()
            .find(|&&m| module_key(prog.module(m)) == f.key)
            .map(|&m| prog.module(m).items.iter().rev().collect::<Vec<_>>())
            .unwrap_or_default()
    })
}

fn render(prog: &TypedProgram, name: &str, it: &TItem) -> String {
    let what = match &it.kind {
        TItemKind::Function { scheme, .. } | TItemKind::Value { scheme, .. } => {
            hashvm_compiler::show_type(prog, &scheme.ty)
        }
        TItemKind::Type(a) => {
            let d = prog.adt(*a);
            let ctors: Vec<&str> = d.ctors.iter().map(|c| c.name.as_str()).collect();
            format!("type ({})", ctors.join(", "))
        }
        TItemKind::Import(_) => "module".into(),
    };
    let file = prog.sources.file(it.span.file);
    let mut out = format!("{name} : {what}\n");
    let doc = doc_comment(&file.text, it.span.lo as usize);
    if !doc.is_empty() {
        out.push_str(&doc);
    }
    out
}

/// The `//` comment lines right above the line holding byte `at` of `text`, without
/// their `//` / `///` markers.
pub fn doc_comment(text: &str, at: usize) -> String {
    let at = at.min(text.len());
    let line_start = text[..at].rfind('\n').map(|k| k + 1).unwrap_or(0);
    let mut lines: Vec<&str> = Vec::new();
    for l in text[..line_start].lines().rev() {
        let t = l.trim_start();
        let Some(c) = t.strip_prefix("//") else { break };
        let c = c.strip_prefix('/').unwrap_or(c);
        lines.push(c.strip_prefix(' ').unwrap_or(c));
    }
    lines.reverse();
    lines.iter().map(|l| format!("  {l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::doc_comment;

    #[test]
    fn doc_comment_lines_above() {
        let t = "a := 1;\n\n/// Twice.\n/// (Really.)\nf := 2;\n";
        let at = t.find("f :=").unwrap();
        assert_eq!(doc_comment(t, at), "  Twice.\n  (Really.)\n");
        assert_eq!(doc_comment(t, 0), "");
        let at = t.find("a :=").unwrap();
        assert_eq!(doc_comment(t, at), "");
    }
}
