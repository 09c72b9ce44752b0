//! Checks the input against the command's JSON Schema before any handler sees it, so every error
//! names the field and the rule that was broken.

use serde_json::{Value, json};

use super::{Call, Middleware, Step};
use crate::error::CommandError;

pub struct ValidateInput;

impl Middleware for ValidateInput {
    fn before(&self, call: &mut Call) -> Result<Step, CommandError> {
        // `is_valid` is the validator's fast path; the errors are only walked for bad input.
        if let Some(validator) = call
            .command
            .validator
            .as_ref()
            .filter(|v| !v.is_valid(&call.input))
        {
            let problems: Vec<Value> = validator
                .iter_errors(&call.input)
                .map(|e| {
                    let field = field_name(&e.instance_path().to_string());
                    let rule = e
                        .schema_path()
                        .to_string()
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    json!({"field": field, "rule": rule, "message": e.to_string()})
                })
                .collect();
            if !problems.is_empty() {
                return Err(invalid_input(call, problems));
            }
        }
        Ok(Step::Pass)
    }
}

fn invalid_input(call: &Call, problems: Vec<Value>) -> CommandError {
    let first = &problems[0];
    let message = format!(
        "invalid input for {}: {} ({}: {})",
        call.command.name,
        first["message"].as_str().unwrap_or_default(),
        first["field"].as_str().unwrap_or_default(),
        first["rule"].as_str().unwrap_or_default(),
    );
    let fields = call.command.input_fields();
    let suggestion = if fields.is_empty() {
        format!(
            "See the schema with `tinct commands {}`.",
            call.command.name
        )
    } else {
        format!(
            "Valid fields are: {}. See the schema with `tinct commands {}`.",
            fields.join(", "),
            call.command.name
        )
    };
    CommandError::validation(message)
        .suggest(suggestion)
        .details(json!({ "problems": problems }))
}

/// `/parent/0` → `parent[0]`, the form people read; the empty pointer is the input itself.
fn field_name(pointer: &str) -> String {
    if pointer.is_empty() {
        return "input".to_owned();
    }
    let mut out = String::new();
    for segment in pointer.trim_start_matches('/').split('/') {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment.parse::<usize>().is_ok() {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::field_name;

    #[test]
    fn pointers_read_as_field_names() {
        assert_eq!(field_name(""), "input");
        assert_eq!(field_name("/node"), "node");
        assert_eq!(field_name("/items/2/path"), "items[2].path");
    }
}
