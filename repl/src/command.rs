//! The REPL's `:` commands: parsing them out of an input, and their help text.

/// One input of the REPL, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Hash source: declarations to keep and/or expressions to evaluate.
    Source(String),
    /// `:t EXPR`: show the type of an expression without evaluating it.
    Type(String),
    /// `:dis NAME`: show the bytecode of a function.
    Dis(String),
    /// `:load FILE`: add a file's declarations to the session.
    Load(String),
    /// `:reload`: load the last `:load`ed file again.
    Reload,
    /// `:info NAME` / `:doc NAME`: the type and doc comment of a name.
    Info(String),
    /// `:time EXPR`: evaluate and report the CPU time taken.
    Time(String),
    /// `:reset`: forget every definition.
    Reset,
    /// `:defs`: list the session's definitions.
    Defs,
    /// `:help`.
    Help,
    /// `:quit` / `:q`.
    Quit,
    /// A blank input.
    Empty,
    /// A command that is malformed or unknown: the message to show.
    Bad(String),
}

/// The command names, for completion and `:help` (the long names; `:q`, `:h` and
/// `:type` are accepted too).
pub const NAMES: &[&str] = &[
    ":t", ":type", ":dis", ":load", ":reload", ":info", ":doc", ":time", ":reset", ":defs",
    ":help", ":quit", ":q",
];

/// The text `:help` prints.
pub const HELP: &str = "\
Type a Hash expression to evaluate it and see its value and type (`42 : i64`), or a
top-level declaration (`x := 1;`, `mut n := 0;`, `f := (x: i64) -> i64 => x * 2;`,
`Point := struct(x: f64, y: f64);`, `m := import(\"path\");`) to add it to the session.
A value is computed once and lives on (mutations too). Declaring a name again makes a
new binding that later inputs see; earlier definitions keep the one they used.
Several pieces may be given at once, separated by `;`. Input continues on the next line
(`...> `) while a bracket, string, char or block comment is open or the line ends in an
operator. Unit results (`()`) are not printed.

Commands:
  :t EXPR      show the type of EXPR without evaluating it (also :type)
  :dis NAME    show the bytecode of function NAME (a session function, or MODULE.NAME)
  :load FILE   add the declarations of a .hash file to the session
  :reload      load the last :load'ed file again (its new definitions shadow the old)
  :info NAME   the type and doc comment of a session or library name (also :doc)
  :time EXPR   evaluate EXPR and report the CPU time it took
  :defs        list the names in scope with their types
  :reset       forget every declaration
  :help        this text (also :h, :?)
  :quit        leave (also :q, or Ctrl-D)

Ctrl-C interrupts a running computation, or clears the line at the prompt.
Tab completes commands, names, standard modules and MODULE.function.";

/// Classifies one (complete) input.
pub fn parse(input: &str) -> Command {
    let t = input.trim();
    if t.is_empty() {
        return Command::Empty;
    }
    let Some(rest) = t.strip_prefix(':') else {
        return Command::Source(input.to_string());
    };
    let (name, arg) = match rest.find(|c: char| c.is_whitespace()) {
        Some(k) => (&rest[..k], rest[k..].trim()),
        None => (rest, ""),
    };
    let need = |what: &str, make: fn(String) -> Command| {
        if arg.is_empty() {
            Command::Bad(format!(":{name} needs {what} (see :help)"))
        } else {
            make(arg.to_string())
        }
    };
    let none = |c: Command| {
        if arg.is_empty() {
            c
        } else {
            Command::Bad(format!(":{name} takes no argument"))
        }
    };
    match name {
        "t" | "type" => need("an expression", Command::Type),
        "dis" | "disasm" => need("a function name", Command::Dis),
        "load" | "l" => need("a file name", |f| Command::Load(unquote(&f))),
        "reload" | "r" => none(Command::Reload),
        "info" | "i" | "doc" => need("a name", Command::Info),
        "time" => need("an expression", Command::Time),
        "reset" => none(Command::Reset),
        "defs" => none(Command::Defs),
        "help" | "h" | "?" => Command::Help,
        "quit" | "q" | "exit" => none(Command::Quit),
        _ => Command::Bad(format!("unknown command `:{name}` (see :help)")),
    }
}

/// A file name as typed, without surrounding double quotes.
fn unquote(s: &str) -> String {
    s.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(s)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_blanks() {
        assert_eq!(parse("  "), Command::Empty);
        assert_eq!(parse(""), Command::Empty);
        assert_eq!(parse("1 + 2"), Command::Source("1 + 2".into()));
        assert_eq!(parse("x := 1;"), Command::Source("x := 1;".into()));
    }

    #[test]
    fn commands() {
        assert_eq!(parse(":t list.map"), Command::Type("list.map".into()));
        assert_eq!(parse(":type  1 + 2 "), Command::Type("1 + 2".into()));
        assert_eq!(parse(":t f(\n 1)"), Command::Type("f(\n 1)".into()));
        assert_eq!(parse(":dis f"), Command::Dis("f".into()));
        assert_eq!(parse(":load a b.hash"), Command::Load("a b.hash".into()));
        assert_eq!(parse(":load \"x.hash\""), Command::Load("x.hash".into()));
        assert_eq!(parse(":reset"), Command::Reset);
        assert_eq!(parse(":defs"), Command::Defs);
        assert_eq!(parse(":help"), Command::Help);
        assert_eq!(parse(":h"), Command::Help);
        assert_eq!(parse(":quit"), Command::Quit);
        assert_eq!(parse(" :q "), Command::Quit);
    }

    #[test]
    fn bad_commands() {
        assert!(matches!(parse(":t"), Command::Bad(_)));
        assert!(matches!(parse(":dis"), Command::Bad(_)));
        assert!(matches!(parse(":load  "), Command::Bad(_)));
        assert!(matches!(parse(":reset now"), Command::Bad(_)));
        assert!(matches!(parse(":frobnicate"), Command::Bad(_)));
        assert!(matches!(parse(":"), Command::Bad(_)));
        assert!(matches!(parse(":é"), Command::Bad(_)));
    }

    #[test]
    fn every_listed_name_parses() {
        for n in NAMES {
            let c = parse(&format!("{n} x"));
            let c0 = parse(n);
            assert!(
                !matches!(c, Command::Bad(ref m) if m.contains("unknown"))
                    && !matches!(c0, Command::Bad(ref m) if m.contains("unknown")),
                "{n}"
            );
        }
    }
}
