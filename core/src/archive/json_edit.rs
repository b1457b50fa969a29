//! Edits to a manifest's or index's JSON that replace only the values they change: key
//! order, spacing and fields tug does not know stay byte for byte, so a document nothing
//! changes keeps its digest and a rewritten one keeps the form its tool gave it.
//!
//! The document is parsed with `serde_json`'s borrowed [`RawValue`]s, whose text lies inside
//! the original bytes: their place there is where an edit goes.

use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;

/// A value of the document: where its text is, and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    span: Range<usize>,
    /// The value parsed.
    pub value: serde_json::Value,
}

impl Field {
    /// The value when it is a string.
    pub fn as_str(&self) -> Option<&str> {
        self.value.as_str()
    }
}

/// A JSON object of the document and the fields tug may rewrite in it (absent: `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    span: Range<usize>,
    /// `mediaType`.
    pub media_type: Option<Field>,
    /// `digest` (descriptors).
    pub digest: Option<Field>,
    /// `size` (descriptors).
    pub size: Option<Field>,
}

/// The parts of a manifest or index that tug may rewrite.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The document itself (its `mediaType`).
    pub top: Object,
    /// `config`, a descriptor.
    pub config: Option<Object>,
    /// `layers[]`, descriptors.
    pub layers: Vec<Object>,
    /// `manifests[]`, descriptors.
    pub manifests: Vec<Object>,
}

#[derive(Deserialize)]
struct RawDocument<'a> {
    #[serde(borrow, default)]
    config: Option<&'a RawValue>,
    #[serde(borrow, default)]
    layers: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    manifests: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
struct RawObject<'a> {
    #[serde(rename = "mediaType", borrow, default)]
    media_type: Option<&'a RawValue>,
    #[serde(borrow, default)]
    digest: Option<&'a RawValue>,
    #[serde(borrow, default)]
    size: Option<&'a RawValue>,
}

/// The parts of the JSON document `bytes` that tug may rewrite. A document that is not a JSON
/// object, names a key twice, or whose `config`, `layers[]` or `manifests[]` are not objects
/// is an error.
pub fn parse(bytes: &[u8]) -> Result<Document, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    let whole: &RawValue = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let raw: RawDocument<'_> = serde_json::from_str(whole.get()).map_err(|e| e.to_string())?;
    let objects = |list: Option<Vec<&RawValue>>, what: &str| -> Result<Vec<Object>, String> {
        list.unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, v)| object(text, v).map_err(|e| format!("{what}[{i}]: {e}")))
            .collect()
    };
    Ok(Document {
        top: object(text, whole)?,
        config: raw
            .config
            .map(|c| object(text, c).map_err(|e| format!("config: {e}")))
            .transpose()?,
        layers: objects(raw.layers, "layers")?,
        manifests: objects(raw.manifests, "manifests")?,
    })
}

/// The object `raw` (text inside `base`) and its rewritable fields.
fn object(base: &str, raw: &RawValue) -> Result<Object, String> {
    let fields: RawObject<'_> = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
    let field = |v: Option<&RawValue>| -> Result<Option<Field>, String> {
        v.map(|v| {
            Ok(Field {
                span: span(base, v)?,
                value: serde_json::from_str(v.get()).map_err(|e| e.to_string())?,
            })
        })
        .transpose()
    };
    Ok(Object {
        span: span(base, raw)?,
        media_type: field(fields.media_type)?,
        digest: field(fields.digest)?,
        size: field(fields.size)?,
    })
}

/// Where the text of `raw`, borrowed from `base`, lies in it.
fn span(base: &str, raw: &RawValue) -> Result<Range<usize>, String> {
    let text = raw.get();
    let start = (text.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
    let range = start..start.wrapping_add(text.len());
    match base.get(range.clone()) {
        Some(found) if std::ptr::eq(found, text) => Ok(range),
        _ => Err("a value outside the document".into()),
    }
}

/// Edits to one document, applied at once by [`Rewrite::finish`].
#[derive(Debug)]
pub struct Rewrite<'a> {
    source: &'a [u8],
    /// Replace (or, for an empty range, insert at) this range with this text.
    edits: Vec<(Range<usize>, String)>,
}

impl<'a> Rewrite<'a> {
    /// No edits yet to `source`, the bytes [`parse`] read.
    pub fn new(source: &'a [u8]) -> Self {
        Rewrite {
            source,
            edits: Vec::new(),
        }
    }

    /// Sets `key` (one of the fields [`Object`] has: `mediaType`, `digest`, `size`, found as
    /// `field`) of `object` to `value`: its value replaced where present (nothing done when it
    /// already says that), else the key added first in the object.
    pub fn set(
        &mut self,
        object: &Object,
        key: &str,
        field: Option<&Field>,
        value: serde_json::Value,
    ) {
        let text = value.to_string();
        match field {
            Some(f) if f.value == value => self.edits.retain(|(r, _)| *r != f.span),
            Some(f) => {
                // A later value for the same field replaces an earlier one.
                self.edits.retain(|(r, _)| *r != f.span);
                self.edits.push((f.span.clone(), text));
            }
            None => {
                let inside = object.span.start + 1;
                let empty = self.source[inside..object.span.end - 1]
                    .iter()
                    .all(u8::is_ascii_whitespace);
                let key = serde_json::Value::from(key);
                let entry = match empty {
                    true => format!("{key}:{text}"),
                    false => format!("{key}:{text},"),
                };
                self.edits.push((inside..inside, entry));
            }
        }
    }

    /// The document with every edit applied.
    pub fn finish(mut self) -> Vec<u8> {
        self.edits.sort_by_key(|(r, _)| (r.start, r.end));
        let mut out = Vec::with_capacity(self.source.len() + 64);
        let mut at = 0;
        for (range, text) in &self.edits {
            // Edits are of distinct fields' values, or insertions at the start of an
            // object: none overlaps another.
            let start = range.start.max(at);
            out.extend_from_slice(&self.source[at..start]);
            out.extend_from_slice(text.as_bytes());
            at = range.end.max(at);
        }
        out.extend_from_slice(&self.source[at..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const DOC: &str = r#"{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {"mediaType": "c", "size": 7, "digest": "sha256:aa"},
   "layers": [
      {"mediaType": "l", "size": 100, "digest": "sha256:bb", "x-other": [1, {"size": 3}]},
      {"digest":"sha256:cc","size":5}
   ]
}"#;

    #[test]
    fn finds_the_fields_and_where_they_are() {
        let doc = parse(DOC.as_bytes()).unwrap();
        assert_eq!(
            doc.top.media_type.as_ref().unwrap().as_str(),
            Some("application/vnd.docker.distribution.manifest.v2+json")
        );
        assert_eq!(doc.config.as_ref().unwrap().size.as_ref().unwrap().value, 7);
        assert_eq!(doc.layers.len(), 2);
        assert_eq!(
            doc.layers[0].digest.as_ref().unwrap().as_str(),
            Some("sha256:bb")
        );
        assert!(doc.layers[1].media_type.is_none());
        assert!(doc.manifests.is_empty());
        let span = doc.layers[0].size.as_ref().unwrap().span.clone();
        assert_eq!(&DOC[span], "100");
    }

    #[test]
    fn only_the_edited_values_change() {
        let doc = parse(DOC.as_bytes()).unwrap();
        let mut edit = Rewrite::new(DOC.as_bytes());
        let l = &doc.layers[0];
        edit.set(l, "mediaType", l.media_type.as_ref(), "l+gzip".into());
        edit.set(l, "size", l.size.as_ref(), 42.into());
        edit.set(l, "digest", l.digest.as_ref(), "sha256:dd".into());
        // The same value: no edit.
        let c = doc.config.as_ref().unwrap();
        edit.set(c, "size", c.size.as_ref(), 7.into());
        // Absent: added first.
        let m = &doc.layers[1];
        edit.set(m, "mediaType", m.media_type.as_ref(), "l".into());
        let out = String::from_utf8(edit.finish()).unwrap();
        let expected = DOC
            .replace(
                r#""mediaType": "l", "size": 100, "digest": "sha256:bb""#,
                r#""mediaType": "l+gzip", "size": 42, "digest": "sha256:dd""#,
            )
            .replace(
                r#"{"digest":"sha256:cc""#,
                r#"{"mediaType":"l","digest":"sha256:cc""#,
            );
        assert_eq!(out, expected);
    }

    #[test]
    fn no_edits_give_the_same_bytes_and_strings_are_escaped() {
        let doc = parse(DOC.as_bytes()).unwrap();
        assert_eq!(Rewrite::new(DOC.as_bytes()).finish(), DOC.as_bytes());
        let mut edit = Rewrite::new(DOC.as_bytes());
        edit.set(
            &doc.top,
            "mediaType",
            doc.top.media_type.as_ref(),
            "a\"b".into(),
        );
        let out = edit.finish();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["mediaType"], "a\"b");
    }

    #[test]
    fn the_last_value_set_for_a_field_wins() {
        let doc = parse(DOC.as_bytes()).unwrap();
        let l = &doc.layers[0];
        let mut edit = Rewrite::new(DOC.as_bytes());
        edit.set(l, "mediaType", l.media_type.as_ref(), "first".into());
        edit.set(l, "mediaType", l.media_type.as_ref(), "second".into());
        let v: serde_json::Value = serde_json::from_slice(&edit.finish()).unwrap();
        assert_eq!(v["layers"][0]["mediaType"], "second");
        let mut edit = Rewrite::new(DOC.as_bytes());
        edit.set(l, "mediaType", l.media_type.as_ref(), "first".into());
        edit.set(l, "mediaType", l.media_type.as_ref(), "l".into());
        assert_eq!(edit.finish(), DOC.as_bytes(), "back to what it was");
    }

    #[test]
    fn a_key_goes_into_an_empty_object_without_a_comma() {
        let text = br#"{"layers":[ { } ]}"#;
        let doc = parse(text).unwrap();
        let mut edit = Rewrite::new(text);
        edit.set(&doc.layers[0], "size", None, 1.into());
        assert_eq!(edit.finish(), br#"{"layers":[ {"size":1 } ]}"#);
    }

    #[test]
    fn bad_documents_are_errors() {
        for bad in [
            &b"{"[..],
            b"[1]",
            b"\"text\"",
            br#"{"layers":[1]}"#,
            br#"{"config":"x"}"#,
            br#"{"mediaType":"a","mediaType":"b"}"#,
            br#"{"layers":[{"digest":"a","digest":"b"}]}"#,
            b"{} trailing",
            b"\xff",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(parse(br#"{"layers":null,"manifests":[]}"#).is_ok());
    }
}
