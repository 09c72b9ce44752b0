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

/// A handler's output of type `T`: built now, or encoded earlier (an answer kept in the store),
/// in which case its JSON text goes into the answer as it is. Either way the schema is `T`'s.
pub enum Output<T> {
    Built(T),
    Encoded(Box<RawValue>),
}

impl<T> Output<T> {
    /// A stored encoding of a `T`; refused when it is not JSON.
    pub fn encoded(json: String) -> Result<Output<T>, serde_json::Error> {
        RawValue::from_string(json).map(Output::Encoded)
    }
}

impl<T: Serialize> Serialize for Output<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Output::Built(output) => output.serialize(serializer),
            Output::Encoded(raw) => raw.serialize(serializer),
        }
    }
}

impl<T: JsonSchema> JsonSchema for Output<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
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
    fn an_encoded_output_is_written_as_stored_and_a_built_one_as_serialised() {
        let stored = r#"{"b":1, "a":"x"}"#.to_owned();
        let encoded: Output<Value> = Output::encoded(stored.clone()).unwrap();
        assert_eq!(Data::encode(&encoded).unwrap().json(), stored);
        let built = Output::Built(json!({"b": 1}));
        assert_eq!(Data::encode(&built).unwrap().json(), r#"{"b":1}"#);
        assert!(Output::<Value>::encoded("{not json".to_owned()).is_err());
    }
}
