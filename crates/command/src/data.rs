//! A command's output, encoded as JSON once.
//!
//! Handlers' typed outputs are serialised straight to JSON text (no `serde_json::Value` tree in
//! between) and shared behind an `Arc`: a cached answer is handed to every caller by reference
//! count and written into the envelope as it is, never cloned deep or encoded again. Surfaces that
//! need a tree (MCP structured content, the CLI's human output) parse it with [`Data::to_value`].

use std::borrow::Cow;
use std::sync::Arc;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

#[derive(Clone)]
pub struct Data(Encoded);

#[derive(Clone)]
enum Encoded {
    /// Encoded by serde_json here, or checked by it on the way in.
    Checked(Arc<RawValue>),
    /// JSON text tinct wrote earlier and kept (a stored answer): not parsed again on the way out,
    /// which for a large answer costs more than everything else a read does.
    Trusted(Arc<str>),
}

impl Data {
    /// Encodes `output` as JSON.
    pub fn encode<T: Serialize + ?Sized>(output: &T) -> Result<Data, serde_json::Error> {
        serde_json::value::to_raw_value(output).map(|raw| Data(Encoded::Checked(Arc::from(raw))))
    }

    /// JSON text that tinct encoded itself and kept (an answer stored by an earlier write). Its
    /// first and last characters are checked, not the rest: the REST surface writes it out as it
    /// is, and other surfaces parse it when they need to.
    pub fn trusted(json: String) -> Result<Data, String> {
        let trimmed = json.trim();
        let object = trimmed.starts_with('{') && trimmed.ends_with('}');
        let array = trimmed.starts_with('[') && trimmed.ends_with(']');
        if object || array {
            Ok(Data(Encoded::Trusted(Arc::from(json))))
        } else {
            Err(format!("not a JSON object or array: {:.40}", json))
        }
    }

    /// The JSON text.
    pub fn json(&self) -> &str {
        match &self.0 {
            Encoded::Checked(raw) => raw.get(),
            Encoded::Trusted(text) => text,
        }
    }

    /// The shared encoded form, as the Cache port stores it (stored text is checked here).
    pub fn shared(&self) -> Result<Arc<RawValue>, serde_json::Error> {
        match &self.0 {
            Encoded::Checked(raw) => Ok(Arc::clone(raw)),
            Encoded::Trusted(text) => RawValue::from_string(text.to_string()).map(Arc::from),
        }
    }

    /// The output as a JSON tree (parses the text; meant for surfaces that need a tree).
    pub fn to_value(&self) -> Value {
        // The text was produced by serde_json (or checked by it on the way in), so it parses.
        serde_json::from_str(self.json()).unwrap_or(Value::Null)
    }

    /// Decodes the output into a type.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.json())
    }
}

impl From<Arc<RawValue>> for Data {
    fn from(raw: Arc<RawValue>) -> Self {
        Data(Encoded::Checked(raw))
    }
}

impl From<Value> for Data {
    fn from(value: Value) -> Self {
        Data::encode(&value).expect("a JSON value always encodes")
    }
}

impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.json())
    }
}

/// Equal when the JSON values are equal (whitespace and key order of objects do not matter).
impl PartialEq for Data {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json() || self.to_value() == other.to_value()
    }
}

impl PartialEq<Value> for Data {
    fn eq(&self, other: &Value) -> bool {
        &self.to_value() == other
    }
}

impl Serialize for Data {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Encoded::Checked(raw) => raw.serialize(serializer),
            // Checked here: a surface that serialises it (not the REST envelope) gets valid JSON
            // or an error, never broken text.
            Encoded::Trusted(text) => serde_json::from_str::<&RawValue>(text)
                .map_err(serde::ser::Error::custom)?
                .serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(|raw| Data::from(Arc::<RawValue>::from(raw)))
    }
}

/// Any JSON: each command's own output schema says more.
impl JsonSchema for Data {
    fn schema_name() -> Cow<'static, str> {
        Value::schema_name()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        Value::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_once_and_round_trips() {
        let data = Data::encode(&json!({"b": 1, "a": [true, null]})).unwrap();
        assert_eq!(data.json(), r#"{"a":[true,null],"b":1}"#);
        let envelope = serde_json::to_string(&json!({"data": data.to_value()})).unwrap();
        let back: serde_json::Map<String, Value> = serde_json::from_str(&envelope).unwrap();
        assert_eq!(data, back["data"]);
    }

    #[test]
    fn is_written_into_an_enclosing_document_verbatim() {
        #[derive(Serialize, Deserialize)]
        struct Envelope {
            data: Data,
        }
        let data = Data::encode(&json!({"x": "é\"q"})).unwrap();
        let text = serde_json::to_string(&Envelope { data: data.clone() }).unwrap();
        assert_eq!(text, format!(r#"{{"data":{}}}"#, data.json()));
        let back: Envelope = serde_json::from_str(&text).unwrap();
        assert_eq!(back.data, data);
        assert_ne!(back.data, Data::from(json!({"x": "other"})));
    }

    #[test]
    fn trusted_text_is_written_as_kept_and_checked_when_serialised() {
        let kept = r#"{"b":1, "a":"x"}"#.to_owned();
        let data = Data::trusted(kept.clone()).unwrap();
        assert_eq!(data.json(), kept);
        assert_eq!(serde_json::to_string(&data).unwrap(), kept);
        assert_eq!(data, Data::from(json!({"a": "x", "b": 1})));
        assert_eq!(data.shared().unwrap().get(), kept);
        // Broken text is refused at the edges, or when a surface serialises it.
        assert!(Data::trusted("nope".to_owned()).is_err());
        let broken = Data::trusted("{\"a\": }".to_owned()).unwrap();
        assert!(serde_json::to_string(&broken).is_err());
        assert!(broken.shared().is_err());
    }
}
