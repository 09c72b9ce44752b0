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
pub struct Data(Arc<RawValue>);

impl Data {
    /// Encodes `output` as JSON.
    pub fn encode<T: Serialize + ?Sized>(output: &T) -> Result<Data, serde_json::Error> {
        serde_json::value::to_raw_value(output).map(|raw| Data(Arc::from(raw)))
    }

    /// The JSON text.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// The shared encoded form, as the Cache port stores it.
    pub fn shared(&self) -> Arc<RawValue> {
        Arc::clone(&self.0)
    }

    /// The output as a JSON tree (parses the text; meant for surfaces that need a tree).
    pub fn to_value(&self) -> Value {
        // The text was produced by serde_json (or checked by it on the way in), so it parses.
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }

    /// Decodes the output into a type.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }
}

impl From<Arc<RawValue>> for Data {
    fn from(raw: Arc<RawValue>) -> Self {
        Data(raw)
    }
}

impl From<Value> for Data {
    fn from(value: Value) -> Self {
        Data::encode(&value).expect("a JSON value always encodes")
    }
}

impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.get())
    }
}

/// Equal when the JSON values are equal (whitespace and key order of objects do not matter).
impl PartialEq for Data {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get() || self.to_value() == other.to_value()
    }
}

impl PartialEq<Value> for Data {
    fn eq(&self, other: &Value) -> bool {
        &self.to_value() == other
    }
}

impl Serialize for Data {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(|raw| Data(Arc::from(raw)))
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
}
