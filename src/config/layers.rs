//! The layers of the configuration as files: reading them (bounded in size), parsing each
//! into a TOML table that keeps its spans, merging them as tables (which is where each key's
//! provenance comes from), and turning a span back into `file:line:column` with the line and
//! a caret.
//!
//! All layers share one span space: layer `i`'s spans are shifted by the lengths of the
//! layers before it, so that a span in the merged table still says which file it is in.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use anyhow::{Context as _, Result};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::{Source, ENVIRONMENTS, MAX_CONFIG_BYTES};
use crate::outcome::WithHint;

/// The layers' texts, lowest first, with where each one starts in the shared span space.
#[derive(Debug)]
pub struct Layers {
    layers: Vec<(Source, String)>,
    starts: Vec<usize>,
}

/// A merged table; for each key that a layer set, the index of that layer; and for each
/// layer, whether a higher one overrode any of its keys.
pub struct Merged<'a> {
    pub table: Spanned<DeTable<'a>>,
    pub set_by: BTreeMap<String, usize>,
    pub overridden: Vec<bool>,
}

impl Layers {
    pub fn new(layers: Vec<(Source, String)>) -> Layers {
        let mut starts = Vec::with_capacity(layers.len());
        let mut at = 0;
        for (_, text) in &layers {
            starts.push(at);
            at += text.len() + 1;
        }
        Layers { layers, starts }
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn source(&self, i: usize) -> &Source {
        &self.layers[i].0
    }

    pub fn sources(&self) -> Vec<Source> {
        self.layers.iter().map(|(s, _)| s.clone()).collect()
    }

    /// Parses every layer; a syntax error is located in its file.
    pub fn parse(&self) -> Result<Vec<DeTable<'_>>> {
        self.layers
            .iter()
            .zip(&self.starts)
            .map(|((source, text), &start)| {
                let table = DeTable::parse(text)
                    .map_err(|e| located(source, text, e.span(), e.message()))?;
                Ok(shift_table(table.into_inner(), start))
            })
            .collect()
    }

    /// Merges the parsed layers `which` (lowest first): `[environments]` whole from the
    /// highest layer that has it, every other table key by key.
    pub fn merge<'a>(&self, parsed: &[DeTable<'a>], which: &[usize]) -> Merged<'a> {
        let mut table = DeTable::new();
        let mut set_by = BTreeMap::new();
        let mut overridden = vec![false; self.layers.len()];
        let mut set = |key: String, i: usize| {
            if let Some(before) = set_by.insert(key, i) {
                overridden[before] = true;
            }
        };
        for &i in which {
            for (key, value) in parsed[i].iter() {
                let name = key.get_ref().to_string();
                let base = table.get_mut(key.get_ref().as_ref());
                match (base.map(Spanned::get_mut), value.get_ref()) {
                    (Some(DeValue::Table(base)), DeValue::Table(over)) if name != ENVIRONMENTS => {
                        for (k, v) in over.iter() {
                            set(format!("{name}.{}", k.get_ref()), i);
                            base.remove(k.get_ref().as_ref());
                            base.insert(k.clone(), v.clone());
                        }
                    }
                    _ => {
                        if let DeValue::Table(over) = value.get_ref() {
                            for k in over.keys() {
                                set(format!("{name}.{}", k.get_ref()), i);
                            }
                        }
                        set(name, i);
                        table.remove(key.get_ref().as_ref());
                        table.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        Merged {
            table: Spanned::new(0..0, table),
            set_by,
            overridden,
        }
    }

    /// An error at `span` of the shared span space, located in its file.
    pub fn error(&self, span: Option<Range<usize>>, message: &str) -> anyhow::Error {
        let Some(span) = span else {
            // Without a place, the error is the embedded default's (it sets every key).
            return anyhow::anyhow!("{}: {message}", self.layers[0].0.name());
        };
        let i = self
            .starts
            .iter()
            .rposition(|&start| start <= span.start)
            .unwrap_or(0);
        let (source, text) = &self.layers[i];
        let start = self.starts[i];
        located(
            source,
            text,
            Some(span.start - start..span.end.saturating_sub(start).max(span.start - start)),
            message,
        )
    }
}

fn shift(value: &Spanned<DeValue<'_>>, by: usize) -> Range<usize> {
    let span = value.span();
    span.start + by..span.end + by
}

fn shift_value(value: Spanned<DeValue<'_>>, by: usize) -> Spanned<DeValue<'_>> {
    let span = shift(&value, by);
    let inner = match value.into_inner() {
        DeValue::Table(table) => DeValue::Table(shift_table(table, by)),
        DeValue::Array(array) => {
            DeValue::Array(array.into_iter().map(|v| shift_value(v, by)).collect())
        }
        other => other,
    };
    Spanned::new(span, inner)
}

fn shift_table(table: DeTable<'_>, by: usize) -> DeTable<'_> {
    table
        .into_iter()
        .map(|(key, value)| {
            let span = key.span();
            (
                Spanned::new(span.start + by..span.end + by, key.into_inner()),
                shift_value(value, by),
            )
        })
        .collect()
}

/// The span of the key at `path` and of its value, in a merged table.
pub fn find(table: &DeTable<'_>, path: &[&str]) -> Option<(Range<usize>, Range<usize>)> {
    let (last, parents) = path.split_last()?;
    let mut cur = table;
    for p in parents {
        cur = cur.get(*p)?.get_ref().as_table()?;
    }
    let (key, value) = cur.get_key_value(*last)?;
    Some((key.span(), value.span()))
}

/// The span of entry `index` of the list at `path`, in a merged table.
pub fn find_entry(table: &DeTable<'_>, path: &[&str], index: usize) -> Option<Range<usize>> {
    let (last, parents) = path.split_last()?;
    let mut cur = table;
    for p in parents {
        cur = cur.get(*p)?.get_ref().as_table()?;
    }
    Some(cur.get(*last)?.get_ref().as_array()?.get(index)?.span())
}

/// Reads one config file; `Ok(None)` when an optional one (`named` empty) does not exist.
pub fn read(path: &Path, named: &str) -> Result<Option<String>> {
    use std::io::Read as _;
    let failed = || format!("failed to read config `{}`{named}", path.display());
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && named.is_empty() => return Ok(None),
        Err(e) => return Err(e).with_context(failed),
    };
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(failed)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(anyhow::anyhow!(
            "config `{}`{named} is larger than {} KiB, the most pushguard reads",
            path.display(),
            MAX_CONFIG_BYTES / 1024
        ))
        .hint("a pushguard config is a few kilobytes: check that the file is the one you meant");
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{}: not UTF-8 text ({e})", failed()))
}

/// An error at a place in a config file: `file:line:column: message`, the line, a caret.
pub fn located(
    source: &Source,
    text: &str,
    span: Option<Range<usize>>,
    message: &str,
) -> anyhow::Error {
    let Some(span) = span else {
        return anyhow::anyhow!("{}: {message}", source.name());
    };
    let start = floor_char_boundary(text, span.start.min(text.len()));
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_no = text[..start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count() + 1;
    let content = text[line_start..line_end].trim_end_matches('\r');
    let end = floor_char_boundary(text, span.end.min(line_end).max(start));
    let width = text[start..end].chars().count().max(1);
    let (shown, caret_at, width) = excerpt(content, column - 1, width);
    let gutter = " ".repeat(line_no.to_string().len());
    anyhow::anyhow!(
        "{}:{line_no}:{column}: {message}\n{gutter} |\n{line_no} | {shown}\n{gutter} | {}{}",
        source.name(),
        " ".repeat(caret_at),
        "^".repeat(width)
    )
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The part of a config line shown under an error: at most `EXCERPT_CHARS` characters
/// around the error (a hostile file may hold a 10 MB line), control characters replaced so
/// that none reaches the terminal. Returns the excerpt, the caret's offset and width in it.
pub fn excerpt(line: &str, at: usize, width: usize) -> (String, usize, usize) {
    const EXCERPT_CHARS: usize = 160;
    let total = line.chars().count();
    let first = if total <= EXCERPT_CHARS {
        0
    } else {
        at.saturating_sub(EXCERPT_CHARS / 2)
            .min(total - EXCERPT_CHARS)
    };
    let last = (first + EXCERPT_CHARS).min(total);
    let mut shown = String::new();
    if first > 0 {
        shown.push('…');
    }
    shown.extend(line.chars().skip(first).take(last - first).map(|c| {
        if c.is_control() && c != '\t' {
            '\u{fffd}'
        } else {
            c
        }
    }));
    if last < total {
        shown.push('…');
    }
    let caret_at = at - first + usize::from(first > 0);
    (shown, caret_at, width.min(last.saturating_sub(at)).max(1))
}
