//! Before a `[[pbx]]` block is typed: its `kind` is read first and becomes the name of the
//! variant that reads the rest (`{kind = "ami", host = ...}` -> `{ami = {host = ...}}`), so
//! serde never buffers the block and every later error keeps its key and line. A key of
//! another kind (a copied block, a kind changed by hand) is refused by name and line here
//! and left out, so the rest of the file is still checked. The value is never shown: the key
//! may be a secret (`pin` under an AMI block).

use std::borrow::Cow;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::parse_error::line_at;
use super::{PbxKind, Problem};

/// The blocks of the `pbx` array that are tables (anything else: typing says so, with its
/// line), with their index.
fn blocks<'d, 'i>(
    doc: &'d mut DeTable<'i>,
) -> impl Iterator<Item = (usize, &'d mut Spanned<DeValue<'i>>)> {
    let blocks = match doc.get_mut("pbx").map(Spanned::get_mut) {
        Some(DeValue::Array(blocks)) => Some(blocks.iter_mut()),
        _ => None,
    };
    blocks
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, b)| matches!(b.get_ref(), DeValue::Table(_)))
}

/// Leaves out, and names, every key of another kind (or of none) in each block of a known kind.
pub(super) fn refuse_foreign_keys(doc: &mut DeTable<'_>, text: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (i, block) in blocks(doc) {
        let DeValue::Table(table) = block.get_mut() else {
            continue;
        };
        let kind = match table.get("kind").map(Spanned::get_ref) {
            Some(DeValue::String(name)) => PbxKind::by_name(name),
            _ => None,
        };
        if let Some(kind) = kind {
            refuse_in_block(i, kind, table, text, &mut problems);
        }
    }
    problems
}

/// Turns each block's `kind` into the variant that reads it.
pub(super) fn tag_kinds(doc: &mut DeTable<'_>, text: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (i, block) in blocks(doc) {
        let span = block.span();
        if let DeValue::Table(table) = block.get_mut() {
            let table = std::mem::take(table);
            *block = Spanned::new(span, tag_block(i, table, text, &mut problems));
        }
    }
    problems
}

fn tag_block<'i>(
    i: usize,
    mut table: DeTable<'i>,
    text: &str,
    problems: &mut Vec<Problem>,
) -> DeValue<'i> {
    let Some((kind_key, kind)) = table.remove_entry("kind") else {
        problems.push(Problem {
            key: format!("pbx[{i}].kind"),
            value: "(missing)".into(),
            fix: "say which PBX this is: kind = \"ctip\", \"ami\" or \"ari\"".into(),
        });
        return DeValue::Table(table);
    };
    let kind_span = kind.span();
    let DeValue::String(name) = kind.into_inner() else {
        problems.push(Problem {
            key: format!(
                "pbx[{i}].kind (line {})",
                line_at(text, kind_key.span().start)
            ),
            value: "(not a string)".into(),
            fix: "write kind = \"ctip\", \"ami\" or \"ari\"".into(),
        });
        return DeValue::Table(table);
    };
    // An unknown kind stays the variant's name: typing refuses it, naming the three kinds.
    let mut tagged = DeTable::new();
    tagged.insert(
        Spanned::new(kind_span.clone(), name),
        Spanned::new(kind_span, DeValue::Table(table)),
    );
    DeValue::Table(tagged)
}

fn refuse_in_block(
    i: usize,
    kind: PbxKind,
    table: &mut DeTable<'_>,
    text: &str,
    problems: &mut Vec<Problem>,
) {
    let foreign: Vec<Spanned<Cow<'_, str>>> = table
        .keys()
        .filter(|k| !["name", "kind"].contains(&k.get_ref().as_ref()))
        .filter(|k| !kind.keys().contains(&k.get_ref().as_ref()))
        .cloned()
        .collect();
    for key in foreign {
        table.remove(key.get_ref().as_ref());
        let name = key.get_ref();
        let of: Vec<&str> = PbxKind::ALL
            .into_iter()
            .filter(|k| k.keys().contains(&name.as_ref()))
            .map(PbxKind::as_str)
            .collect();
        let fix = if of.is_empty() {
            format!(
                "no kind = \"{}\" PBX has this key: remove it (or fix its spelling)",
                kind.as_str()
            )
        } else {
            format!(
                "a key of kind = {:?} PBXs, not of this kind = \"{}\" one: remove it (or fix the kind)",
                of.join("/"),
                kind.as_str()
            )
        };
        problems.push(Problem {
            key: format!("pbx[{i}].{name} (line {})", line_at(text, key.span().start)),
            value: "…".into(),
            fix,
        });
    }
}
