//! A DTCG 2025.10 document of the resolved tokens: `$type`, `$value`, `$description`,
//! `$deprecated` and `$extensions`, nested by path. With `output_references` each value keeps
//! its references (`{alias}`), so the document re-resolves to the same values either way.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::{ExportOptions, json, referenced};
use crate::Resolved;

pub(super) fn render(resolved: &Resolved, options: &ExportOptions) -> String {
    json::nested(resolved, crate::ROOT_TOKEN, |token| {
        let mut o = Map::new();
        o.insert("$type".into(), Value::from(token.token_type.as_str()));
        let value = referenced(token, options).unwrap_or(&token.value);
        o.insert("$value".into(), value.clone());
        if let Some(d) = &token.description {
            o.insert("$description".into(), Value::from(d.as_str()));
        }
        if let Some(d) = &token.deprecated {
            o.insert("$deprecated".into(), d.clone());
        }
        if let Some(e) = &token.extensions {
            o.insert("$extensions".into(), Value::Object(e.clone()));
        }
        Cow::Owned(Value::Object(o))
    })
}
