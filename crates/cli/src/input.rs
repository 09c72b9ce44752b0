//! Turns `tinct call` arguments into a JSON input object.

use std::io::Read;

use serde_json::{Map, Value};

pub fn build(args: &[String]) -> Result<Value, String> {
    let mut fields = Map::new();
    for arg in args {
        if arg == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("could not read standard input: {e}"))?;
            merge(&mut fields, parse_object(&text, "standard input")?);
        } else if let Some(file) = arg.strip_prefix('@') {
            let text =
                std::fs::read_to_string(file).map_err(|e| format!("could not read {file}: {e}"))?;
            merge(&mut fields, parse_object(&text, file)?);
        } else if arg.trim_start().starts_with('{') {
            merge(&mut fields, parse_object(arg, "the argument")?);
        } else if let Some((key, json)) = arg.split_once(":=") {
            let value = match json.strip_prefix('@') {
                // `document:=@tokens.json`: a field's JSON from a file, as httpie reads it.
                Some(file) => {
                    let text = std::fs::read_to_string(file)
                        .map_err(|e| format!("could not read {file} for {key}: {e}"))?;
                    serde_json::from_str(&text)
                        .map_err(|e| format!("{file} (for {key}) is not valid JSON: {e}"))?
                }
                None => serde_json::from_str(json).map_err(|e| {
                    format!("{key}:= needs JSON ({e}); use {key}=text for a plain string")
                })?,
            };
            fields.insert(key.to_owned(), value);
        } else if let Some((key, text)) = arg.split_once('=') {
            fields.insert(key.to_owned(), Value::String(text.to_owned()));
        } else {
            return Err(format!(
                "cannot read argument '{arg}': use key=value, key:=json, a JSON object, @file or -"
            ));
        }
    }
    Ok(Value::Object(fields))
}

fn parse_object(text: &str, from: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(format!("{from} must hold a JSON object")),
        Err(e) => Err(format!("{from} is not valid JSON: {e}")),
    }
}

fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    into.extend(from);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_field_takes_json_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("doc.json");
        std::fs::write(&file, r#"{"color": {"$type": "color"}}"#).unwrap();
        let arg = format!("document:=@{}", file.display());
        let input = build(&args(&["node=acme", &arg])).unwrap();
        assert_eq!(input["document"]["color"]["$type"], "color");

        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, "{").unwrap();
        let err = build(&args(&[&format!("document:=@{}", broken.display())])).unwrap_err();
        assert!(
            err.contains("not valid JSON") && err.contains("document"),
            "{err}"
        );
        let err = build(&args(&["document:=@/no/such/file.json"])).unwrap_err();
        assert!(
            err.contains("could not read") && err.contains("document"),
            "{err}"
        );
    }

    #[test]
    fn pairs_json_pairs_and_objects_combine() {
        let v = build(&args(&[
            "node=acme",
            "limit:=5",
            "value:={\"value\":16,\"unit\":\"px\"}",
            "{\"path\": \"a.b\"}",
            "hex=#fff",
        ]))
        .unwrap();
        assert_eq!(
            v,
            json!({"node": "acme", "limit": 5, "value": {"value": 16, "unit": "px"}, "path": "a.b", "hex": "#fff"})
        );
    }

    #[test]
    fn bad_arguments_explain_themselves() {
        assert!(build(&args(&["oops"])).unwrap_err().contains("key=value"));
        assert!(build(&args(&["n:=nope"])).unwrap_err().contains("n=text"));
        assert!(
            build(&args(&["{not json"]))
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            build(&args(&["@/no/such/file"]))
                .unwrap_err()
                .contains("could not read")
        );
    }
}
