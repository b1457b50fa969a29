//! The modules of `tug` (runner-native/src) stand in layers, and import only downwards: a
//! module may use its own layer and the ones below it, never one above, and no files import
//! each other in a loop. This test reads every source file (test modules left out), collects
//! the `crate::…`, `super::…` and `self::…` paths it names (in `use` items, in code, and in
//! macro arguments) and checks them against [`LAYERS`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

/// The layers, top first; each names the top-level modules (files or folders) in it.
const LAYERS: &[(&str, &[&str])] = &[
    ("entry point", &["main"]),
    ("subcommands", &["commands"]),
    ("command line", &["cli"]),
    ("operation driving", &["driver", "push_bodies"]),
    ("settings", &["config"]),
    ("credentials", &["credentials"]),
    ("--compress", &["compress"]),
    (
        "image files and records",
        &[
            "source",
            "compressed_source",
            "layer_check",
            "archive_writer",
            "layout_writer",
            "oci_dir",
            "save_stream",
            "history",
            "upload_state",
            "live_mark",
            "blob_places",
        ],
    ),
    ("what people see", &["progress", "verbose"]),
    ("HTTP transport", &["transport"]),
    (
        "foundations",
        &[
            "output",
            "exit_code",
            "interrupt",
            "memory",
            "safe_fs",
            "locked_temp",
            "out_path",
            "decode",
            "file_ext",
            "terminal",
            "places",
            "state_file",
            "stdin",
            "web_assets",
        ],
    ),
];

/// A module: its path from the crate root (`["compress", "cache"]`); the root is `[]`.
type Module = Vec<String>;

/// One source file and the modules it names, with the line of each first mention.
struct File {
    path: PathBuf,
    module: Module,
    uses: BTreeMap<Module, usize>,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with its module path.
fn files(dir: &Path, module: &Module, out: &mut Vec<(PathBuf, Module)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if path.is_dir() {
            let mut m = module.clone();
            m.push(name);
            files(&path, &m, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let mut m = module.clone();
            if !(name == "mod" || (module.is_empty() && name == "main")) {
                m.push(name);
            }
            out.push((path, m));
        }
    }
}

/// Collects the paths a file names.
struct Collector<'a> {
    /// The module `self` means here.
    module: &'a Module,
    /// Every module of the crate, to tell a module from an item inside one.
    known: &'a BTreeSet<Module>,
    /// The crate root names its modules without `crate::`.
    is_root: bool,
    uses: BTreeMap<Module, usize>,
}

impl Collector<'_> {
    /// Notes the module that path `segments` (first `crate`, `super` or `self`) lies in.
    fn note(&mut self, segments: &[String], line: usize) {
        let mut base: Module = match segments.first().map(String::as_str) {
            Some("crate") => Vec::new(),
            Some("self") => self.module.clone(),
            Some("super") => {
                let mut m = self.module.clone();
                m.pop();
                m
            }
            Some(first) if self.is_root && self.known.contains(&vec![first.to_owned()]) => {
                vec![first.to_owned()]
            }
            _ => return,
        };
        let mut rest = &segments[1..];
        while let Some(("super", tail)) = rest.split_first().map(|(h, t)| (h.as_str(), t)) {
            base.pop();
            rest = tail;
        }
        for segment in rest {
            let mut deeper = base.clone();
            deeper.push(segment.clone());
            if !self.known.contains(&deeper) {
                break;
            }
            base = deeper;
        }
        if &base != self.module && !base.is_empty() {
            self.uses.entry(base).or_insert(line);
        }
    }

    /// The paths of a `use` tree.
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                prefix.push(n.ident.to_string());
                self.note(&prefix.clone(), n.ident.span().start().line);
                prefix.pop();
            }
            syn::UseTree::Rename(r) => {
                prefix.push(r.ident.to_string());
                self.note(&prefix.clone(), r.ident.span().start().line);
                prefix.pop();
            }
            syn::UseTree::Glob(g) => {
                self.note(&prefix.clone(), g.star_token.spans[0].start().line);
            }
            syn::UseTree::Group(g) => {
                for item in &g.items {
                    self.use_tree(prefix, item);
                }
            }
        }
    }

    /// `crate :: a :: b` runs in macro arguments, which syn leaves as tokens.
    fn tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(g) => self.tokens(g.stream()),
                TokenTree::Ident(id) => {
                    let after_dollar = i > 0
                        && matches!(&tokens[i - 1], TokenTree::Punct(p) if p.as_char() == '$');
                    if !after_dollar {
                        let mut segments = vec![id.to_string()];
                        let mut j = i + 1;
                        let colon = |k: usize| matches!(tokens.get(k), Some(TokenTree::Punct(p)) if p.as_char() == ':');
                        while colon(j) && colon(j + 1) {
                            match tokens.get(j + 2) {
                                Some(TokenTree::Ident(next)) => segments.push(next.to_string()),
                                _ => break,
                            }
                            j += 3;
                        }
                        if segments.len() > 1 {
                            self.note(&segments, id.span().start().line);
                            i = j;
                            continue;
                        }
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        let test_only = m.attrs.iter().any(|a| {
            a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|arg| arg == "test")
        });
        if !test_only {
            syn::visit::visit_item_mod(self, m);
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &u.tree);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        if segments.len() > 1 {
            let line = p.segments[0].ident.span().start().line;
            self.note(&segments, line);
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.tokens(m.tokens.clone());
        syn::visit::visit_macro(self, m);
    }
}

fn read_crate() -> Vec<File> {
    let mut found = Vec::new();
    files(&src(), &Vec::new(), &mut found);
    let known: BTreeSet<Module> = found.iter().map(|(_, m)| m.clone()).collect();
    found
        .into_iter()
        .map(|(path, module)| {
            let text = std::fs::read_to_string(&path).unwrap();
            let ast = syn::parse_file(&text)
                .unwrap_or_else(|e| panic!("{}: cannot parse: {e}", path.display()));
            let mut c = Collector {
                module: &module,
                known: &known,
                is_root: module.is_empty(),
                uses: BTreeMap::new(),
            };
            c.visit_file(&ast);
            let uses = c.uses;
            File { path, module, uses }
        })
        .collect()
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "main".to_owned()
    } else {
        m.join("::")
    }
}

/// The top-level module a module belongs to (`main` for the root).
fn top(m: &Module) -> String {
    m.first().cloned().unwrap_or_else(|| "main".to_owned())
}

/// The loops in `graph`, each as the nodes in it (Tarjan's strongly connected components).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

/// What ties the members of a loop: `a -> b (file:line)` for each import inside it.
fn ties(files: &[File], members: &[String], key: impl Fn(&Module) -> String) -> String {
    let mut out = String::new();
    for f in files {
        for (used, line) in &f.uses {
            let (from, to) = (key(&f.module), key(used));
            if from != to && members.contains(&from) && members.contains(&to) {
                out.push_str(&format!(
                    "\n    {from} -> {to} ({}:{line})",
                    f.path.strip_prefix(src()).unwrap().display()
                ));
            }
        }
    }
    out
}

#[test]
fn every_module_has_a_layer_and_imports_only_downwards_without_loops() {
    let files = read_crate();
    let layer_of = |top: &str| LAYERS.iter().position(|(_, mods)| mods.contains(&top));
    let mut problems = Vec::new();

    let tops: BTreeSet<String> = files.iter().map(|f| top(&f.module)).collect();
    for t in &tops {
        if layer_of(t).is_none() {
            problems.push(format!("module {t} is in no layer: add it to LAYERS"));
        }
    }
    for (_, mods) in LAYERS {
        for m in *mods {
            if !tops.contains(*m) {
                problems.push(format!("LAYERS names {m}, which is no module"));
            }
        }
    }

    for f in &files {
        let from = top(&f.module);
        for (used, line) in &f.uses {
            let to = top(used);
            if let (Some(a), Some(b)) = (layer_of(&from), layer_of(&to)) {
                if b < a {
                    problems.push(format!(
                        "{}:{line}: {} ({}) imports {} from a layer above ({})",
                        f.path.strip_prefix(src()).unwrap().display(),
                        name(&f.module),
                        LAYERS[a].0,
                        name(used),
                        LAYERS[b].0
                    ));
                }
            }
        }
    }

    // Loops between top-level modules, then between files.
    let mut top_graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut file_graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        for used in f.uses.keys() {
            if top(&f.module) != top(used) {
                top_graph
                    .entry(top(&f.module))
                    .or_default()
                    .insert(top(used));
            }
            file_graph
                .entry(name(&f.module))
                .or_default()
                .insert(name(used));
        }
    }
    for members in cycles(&top_graph) {
        problems.push(format!(
            "modules that import each other in a loop: {}{}",
            members.join(", "),
            ties(&files, &members, top)
        ));
    }
    for members in cycles(&file_graph) {
        if members
            .iter()
            .map(|m| m.split("::").next())
            .collect::<BTreeSet<_>>()
            .len()
            == 1
        {
            problems.push(format!(
                "files that import each other in a loop: {}{}",
                members.join(", "),
                ties(&files, &members, name)
            ));
        }
    }

    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// The checker sees what it must: a use group, a path in code, a path in a macro's
/// arguments, `super::`, and nothing inside a test module.
#[test]
fn the_checker_finds_imports_wherever_they_are_written() {
    let known: BTreeSet<Module> = [
        vec!["a"],
        vec!["b"],
        vec!["c"],
        vec!["d"],
        vec!["e"],
        vec!["f"],
        vec!["f", "g"],
        vec!["t"],
    ]
    .into_iter()
    .map(|m| m.into_iter().map(String::from).collect())
    .collect();
    let module: Module = vec!["f".into(), "h".into()];
    let text = r#"
        use crate::{a::Thing, b::{self, Other}};
        use super::g::Item;
        fn run() { crate::c::go(); println!("{}", crate::d::name()); }
        macro_rules! m { () => { $crate::e::x() } }
        #[cfg(test)]
        mod tests { use crate::t::Helper; }
    "#;
    let mut c = Collector {
        module: &module,
        known: &known,
        is_root: false,
        uses: BTreeMap::new(),
    };
    c.visit_file(&syn::parse_file(text).unwrap());
    let found: Vec<String> = c.uses.keys().map(name).collect();
    assert_eq!(found, ["a", "b", "c", "d", "f::g"]);
}
