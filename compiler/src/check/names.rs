//! Name resolution: types, values and constructors in scope (locals, the module's
//! items, earlier REPL session pieces, the prelude, imported modules), module members,
//! suggestions for misspelt names, and the unused-name warnings.

use super::*;

impl<'g> Checker<'g> {
    /// A data type visible by its bare name in the current module.
    pub(super) fn lookup_type_name(&mut self, name: &str) -> Option<AdtId> {
        let st = &self.mods[self.cur.0 as usize];
        if let Some(TopName::Item(i)) = st.names.get(name) {
            if let ItemKindState::Type(a) = st.items[*i as usize].kind {
                return Some(a);
            }
        }
        for o in self.session_modules(&self.session_names, name) {
            let st = &self.mods[o.0 as usize];
            if let Some(TopName::Item(i)) = st.names.get(name) {
                if let ItemKindState::Type(a) = st.items[*i as usize].kind {
                    return Some(a);
                }
            }
        }
        match name {
            "List" => return Some(AdtId::LIST),
            "Option" => return Some(AdtId::OPTION),
            "Result" => return Some(AdtId::RESULT),
            _ => {}
        }
        if name == "Map" {
            if let Some(&mm) = self.graph.stdlib.get("map") {
                if mm != self.cur {
                    if let Some(TopName::Item(i)) = self.mods[mm.0 as usize].names.get("Map") {
                        if let ItemKindState::Type(a) =
                            self.mods[mm.0 as usize].items[*i as usize].kind
                        {
                            return Some(a);
                        }
                    }
                }
            }
        }
        None
    }

    /// Resolves a bare name in an expression: locals, this module's top-level names,
    /// the prelude, the standard modules, then unambiguous constructors.
    pub(crate) fn lookup_value(&mut self, name: &str) -> Option<Res> {
        if let Some((_, id)) = self.scopes.iter().rev().find(|(n, _)| n == name) {
            return Some(Res::Local(*id));
        }
        let cur = self.cur;
        if let Some(r) = self.top_name_res(cur, name) {
            if let (Res::Module(_) | Res::BrokenModule, Some(TopName::Item(i))) =
                (&r, self.mods[cur.0 as usize].names.get(name))
            {
                self.used_imports.insert((cur.0, *i));
            }
            return Some(r);
        }
        if self.mods[cur.0 as usize].broken.contains(name) {
            // Its declaration did not parse; that error is the one to fix.
            return Some(Res::BrokenModule);
        }
        // Earlier session modules, the newest first (a redefinition shadows).
        if let Some(o) = self.session_modules(&self.session_names, name).next() {
            if let Some(r) = self.top_name_res(o, name) {
                return Some(r);
            }
        }
        let prelude = self.graph.prelude;
        if prelude != cur && !name.starts_with('_') {
            if let Some(r) = self.top_name_res(prelude, name) {
                return Some(r);
            }
        }
        let pm = &self.graph.modules[cur.0 as usize];
        if let Some((_, m)) = pm.implicit.iter().find(|(n, _)| n == name) {
            return Some(Res::Module(*m));
        }
        if name == "Map" {
            if let Some(a) = self.lookup_type_name(name) {
                return Some(Res::Type(a));
            }
        }
        match name {
            "List" => return Some(Res::Type(AdtId::LIST)),
            "Option" => return Some(Res::Type(AdtId::OPTION)),
            "Result" => return Some(Res::Type(AdtId::RESULT)),
            _ => {}
        }
        self.lookup_ctor_unqualified(name)
    }

    /// Fills the session indexes (after every module is declared).
    pub(super) fn index_session(&mut self) {
        for pm in &self.graph.modules {
            if !matches!(pm.kind, ModuleKind::Session(_)) {
                continue;
            }
            let pos = pm.opens.len();
            let st = &self.mods[pm.id.0 as usize];
            for n in st.names.keys() {
                self.session_names
                    .entry(n.clone())
                    .or_default()
                    .push((pos, pm.id));
            }
            for &a in &st.adts {
                let d = &self.adts[a.0 as usize];
                if d.is_struct {
                    continue;
                }
                for c in &d.ctors {
                    let v = self.session_ctors.entry(c.name.clone()).or_default();
                    if v.last() != Some(&(pos, pm.id)) {
                        v.push((pos, pm.id));
                    }
                }
            }
        }
        for v in self
            .session_names
            .values_mut()
            .chain(self.session_ctors.values_mut())
        {
            v.sort_unstable_by_key(|e| e.0);
        }
    }

    /// The earlier session modules (before the current one) that `index` lists for
    /// `name`, the newest first. None outside a session module.
    pub(super) fn session_modules<'a>(
        &self,
        index: &'a HashMap<String, Vec<(usize, ModuleId)>>,
        name: &str,
    ) -> impl Iterator<Item = ModuleId> + 'a {
        let pm = &self.graph.modules[self.cur.0 as usize];
        let pos = if matches!(pm.kind, ModuleKind::Session(_)) {
            pm.opens.len()
        } else {
            0
        };
        let list: &[(usize, ModuleId)] = index.get(name).map(|v| v.as_slice()).unwrap_or(&[]);
        let end = list.partition_point(|e| e.0 < pos);
        list[..end].iter().rev().map(|e| e.1)
    }

    pub(super) fn top_name_res(&self, m: ModuleId, name: &str) -> Option<Res> {
        let st = &self.mods[m.0 as usize];
        let TopName::Item(i) = *st.names.get(name)?;
        Some(match &st.items[i as usize].kind {
            ItemKindState::Value { .. } => Res::Item(m, i),
            ItemKindState::Type(a) => Res::Type(*a),
            ItemKindState::Import(ImportTarget::Module(t)) => Res::Module(*t),
            ItemKindState::Import(ImportTarget::Broken) => Res::BrokenModule,
        })
    }

    /// A constructor by its bare name: this module's types first, then the builtins.
    /// Reports an ambiguity (and returns the first) when two of this module's types
    /// have a constructor of that name.
    pub(crate) fn lookup_ctor_unqualified(&mut self, name: &str) -> Option<Res> {
        let mut found: Vec<(AdtId, u16)> = Vec::new();
        for &a in &self.mods[self.cur.0 as usize].adts {
            let d = &self.adts[a.0 as usize];
            if d.is_struct {
                continue;
            }
            if let Some(t) = d.ctors.iter().position(|c| c.name == name) {
                found.push((a, t as u16));
            }
        }
        // Then the types of earlier session modules, the newest that has one first.
        let candidates: Vec<ModuleId> = self.session_modules(&self.session_ctors, name).collect();
        for o in candidates {
            if !found.is_empty() {
                break;
            }
            for &a in &self.mods[o.0 as usize].adts {
                let d = &self.adts[a.0 as usize];
                if d.is_struct {
                    continue;
                }
                if let Some(t) = d.ctors.iter().position(|c| c.name == name) {
                    found.push((a, t as u16));
                }
            }
        }
        if found.is_empty() {
            for a in [AdtId::LIST, AdtId::OPTION, AdtId::RESULT] {
                if let Some(t) = self.adts[a.0 as usize]
                    .ctors
                    .iter()
                    .position(|c| c.name == name)
                {
                    found.push((a, t as u16));
                }
            }
        }
        match found.as_slice() {
            [] => None,
            [(a, t)] => Some(Res::Ctor(*a, *t)),
            [(a, t), ..] => {
                // Reported by the caller's span? We have none here: report at the
                // declaration of the second type so the user sees both.
                let names: Vec<String> = found
                    .iter()
                    .map(|(a, _)| self.adts[a.0 as usize].name.clone())
                    .collect();
                self.pending_ambiguity = Some(format!(
                    "the constructor `{name}` is ambiguous: it belongs to {}; qualify it, e.g. `{}.{name}`",
                    names.join(" and "),
                    names[0]
                ));
                Some(Res::Ctor(*a, *t))
            }
        }
    }

    /// A member `name` of module `m` (`m.name`), checking privacy.
    pub(crate) fn member(&mut self, m: ModuleId, name: &str, span: Span) -> Option<Res> {
        if !self.mods[m.0 as usize].names.contains_key(name)
            && self.mods[m.0 as usize].broken.contains(name)
        {
            return None; // its declaration did not parse: reported there
        }
        if !self.mods[m.0 as usize].names.contains_key(name) {
            let mname = self.module_name(m).to_string();
            let mut d =
                Diagnostic::error(span, format!("the module `{mname}` has no member `{name}`"))
                    .with_label("not declared there");
            if let Some(s) = self.similar(
                self.mods[m.0 as usize]
                    .names
                    .keys()
                    .filter(|k| !k.starts_with('_')),
                name,
            ) {
                d = d.with_help(format!("a member with a similar name exists: `{s}`"));
            }
            self.report(d);
            return None;
        }
        if name.starts_with('_') && m != self.cur {
            let mname = self.module_name(m).to_string();
            let TopName::Item(i) = self.mods[m.0 as usize].names[name];
            let decl = self.mods[m.0 as usize].items[i as usize].span;
            self.report(
                Diagnostic::error(span, format!("`{name}` is private to `{mname}`"))
                    .with_label("private member")
                    .with_note(Some(decl), "declared here")
                    .with_help("names that start with `_` can only be used in their own file"),
            );
            return None;
        }
        self.top_name_res(m, name)
    }

    /// The closest of `cands` to `name` by edit distance, if close enough.
    pub(crate) fn similar<'a>(
        &self,
        cands: impl Iterator<Item = &'a String>,
        name: &str,
    ) -> Option<String> {
        let mut best: Option<(usize, &String)> = None;
        for c in cands {
            let d = edit_distance(c, name);
            let limit = (name.len().max(c.len()) / 3).max(1);
            if d <= limit && best.map(|(bd, _)| d < bd).unwrap_or(true) {
                best = Some((d, c));
            }
        }
        best.map(|(_, c)| c.clone())
    }

    /// Every name visible at this point (for suggestions).
    pub(crate) fn visible_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.scopes.iter().map(|(n, _)| n.clone()).collect();
        v.extend(self.mods[self.cur.0 as usize].names.keys().cloned());
        for &o in &self.graph.modules[self.cur.0 as usize].opens {
            v.extend(self.mods[o.0 as usize].names.keys().cloned());
        }
        v.extend(
            self.mods[self.graph.prelude.0 as usize]
                .names
                .keys()
                .filter(|k| !k.starts_with('_'))
                .cloned(),
        );
        v.extend(
            self.graph.modules[self.cur.0 as usize]
                .implicit
                .iter()
                .map(|(n, _)| n.clone()),
        );
        v
    }

    pub(crate) fn new_local(&mut self, name: &str, span: Span, mutable: bool, ty: Type) -> LocalId {
        let id = LocalId(self.locals.len() as u32);
        self.locals.push(LocalState {
            name: name.to_string(),
            span,
            mutable,
            captured: false,
            read: false,
            assigned: false,
            let_bound: false,
            scheme: Scheme::mono(ty),
            fn_depth: self.fn_stack.len().saturating_sub(1),
        });
        id
    }

    pub(crate) fn bind_local(&mut self, name: &str, id: LocalId) {
        if name != "_" {
            self.scopes.push((name.to_string(), id));
        }
    }

    /// Records a use of local `id` from the current function, adding it to the
    /// captures of every lambda between its binder and here.
    pub(crate) fn use_local(&mut self, id: LocalId) {
        let depth = self.locals[id.0 as usize].fn_depth;
        let top = self.fn_stack.len().saturating_sub(1);
        if depth < top {
            self.locals[id.0 as usize].captured = true;
            for d in depth + 1..=top {
                let caps = &mut self.fn_stack[d].captures;
                if !caps.contains(&id) {
                    caps.push(id);
                }
            }
        }
    }

    /// Warnings for the user's files (never the standard library's): variables never
    /// read, `mut` variables never assigned, and imports never used. A name starting
    /// with `_` is exempt (`_x`, `_ := ...`), as in Rust. Only names bound by
    /// `x := ...` count as variables here: a match arm's, a `for` loop's or a lambda's
    /// names often say what a position holds without being used (`[verb, ..args]`,
    /// `(x, acc) => acc + 1`), as ../shared's own examples do.
    pub(super) fn unused_warnings(&mut self) {
        let user_files: std::collections::HashSet<crate::span::FileId> = self
            .graph
            .modules
            .iter()
            .filter(|m| matches!(m.kind, crate::tast::ModuleKind::User))
            .map(|m| m.file)
            .collect();
        let exempt =
            |name: &str| name.starts_with('_') || !name.starts_with(|c: char| c.is_alphabetic());
        let mut warnings = Vec::new();
        for l in &self.locals {
            if !l.let_bound || !user_files.contains(&l.span.file) || exempt(&l.name) {
                continue;
            }
            if !l.read {
                let what = if l.assigned {
                    "is assigned to, but never read"
                } else {
                    "is never used"
                };
                warnings.push(
                    Diagnostic::warning(l.span, format!("the variable `{}` {what}", l.name))
                        .with_help(format!(
                            "if that is intended, name it `_{}` (or `_`)",
                            l.name
                        )),
                );
            } else if l.mutable && !l.assigned {
                warnings.push(
                    Diagnostic::warning(
                        l.span,
                        format!("`{}` is declared `mut` but never assigned", l.name),
                    )
                    .with_help("remove the `mut`"),
                );
            }
        }
        for pm in &self.graph.modules {
            if !matches!(pm.kind, crate::tast::ModuleKind::User) {
                continue;
            }
            for (i, it) in pm.ast.items.iter().enumerate() {
                if matches!(it.kind, ast::ItemKind::Import { .. })
                    && !exempt(&it.name.name)
                    && !self.used_imports.contains(&(pm.id.0, i as u32))
                {
                    warnings.push(
                        Diagnostic::warning(
                            it.span,
                            format!("the import `{}` is never used", it.name.name),
                        )
                        .with_help("remove it"),
                    );
                }
            }
        }
        self.diags.extend(warnings);
    }
}
