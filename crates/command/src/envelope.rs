//! The CommandResult envelope: the one shape every surface returns.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::data::Data;
use crate::error::{CommandError, ErrorCode};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommandResult {
    pub success: bool,
    pub data: Option<Data>,
    pub error: Option<ErrorBody>,
    #[serde(default)]
    pub warnings: Vec<String>,
    pub metadata: Metadata,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    pub suggestion: Option<String>,
    pub retryable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl From<CommandError> for ErrorBody {
    fn from(e: CommandError) -> Self {
        ErrorBody {
            code: e.code,
            retryable: e.is_retryable(),
            message: e.message,
            suggestion: e.suggestion,
            details: e.details,
        }
    }
}

/// Where a read's answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CacheStatus {
    Hit,
    Miss,
    Bypass,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub command: String,
    pub trace_id: String,
    pub duration_ms: f64,
    pub instance: String,
    pub cache: Option<CacheStatus>,
    /// Consistency token: the store revision a mutation committed (or a read observed).
    pub revision: Option<String>,
    pub command_version: Option<u32>,
}

impl CommandResult {
    /// A failed result for an error found before any command ran (bad JSON, unreachable server).
    pub fn failure(command: &str, trace_id: &str, instance: &str, error: CommandError) -> Self {
        CommandResult {
            success: false,
            data: None,
            error: Some(error.into()),
            warnings: Vec::new(),
            metadata: Metadata {
                command: command.to_owned(),
                trace_id: trace_id.to_owned(),
                duration_ms: 0.0,
                instance: instance.to_owned(),
                cache: None,
                revision: None,
                command_version: None,
            },
        }
    }

    pub fn error_code(&self) -> Option<ErrorCode> {
        self.error.as_ref().map(|e| e.code)
    }

    /// HTTP status for this result on REST-like surfaces.
    pub fn http_status(&self) -> u16 {
        self.error_code().map_or(200, ErrorCode::http_status)
    }

    /// Exit code for the CLI.
    pub fn exit_code(&self) -> i32 {
        self.error_code().map_or(0, ErrorCode::exit_code)
    }

    /// Appends the envelope as JSON to `out`: the same text serde writes, with the data written
    /// as it is (a stored answer is not parsed on its way out).
    pub fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        out.extend_from_slice(if self.success {
            b"{\"success\":true,\"data\":"
        } else {
            b"{\"success\":false,\"data\":"
        });
        match &self.data {
            Some(data) => out.extend_from_slice(data.json().as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"error\":");
        serde_json::to_writer(&mut *out, &self.error)?;
        out.extend_from_slice(b",\"warnings\":");
        serde_json::to_writer(&mut *out, &self.warnings)?;
        out.extend_from_slice(b",\"metadata\":");
        serde_json::to_writer(&mut *out, &self.metadata)?;
        out.push(b'}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn metadata() -> Metadata {
        Metadata {
            command: "tokens.resolve".to_owned(),
            trace_id: "t\"1".to_owned(),
            duration_ms: 1.25,
            instance: "i".to_owned(),
            cache: Some(CacheStatus::Hit),
            revision: None,
            command_version: Some(1),
        }
    }

    #[test]
    fn write_json_writes_what_serde_writes() {
        let ok = CommandResult {
            success: true,
            data: Some(Data::from(json!({"node": "n", "count": 0}))),
            error: None,
            warnings: vec!["w".to_owned()],
            metadata: metadata(),
        };
        let failed = CommandResult {
            success: false,
            data: None,
            error: Some(
                CommandError::not_found("no node 'x'")
                    .suggest("list them")
                    .into(),
            ),
            warnings: Vec::new(),
            metadata: metadata(),
        };
        for result in [ok, failed] {
            let mut written = Vec::new();
            result.write_json(&mut written).unwrap();
            assert_eq!(
                String::from_utf8(written).unwrap(),
                serde_json::to_string(&result).unwrap()
            );
        }
    }

    #[test]
    fn stored_data_is_written_as_kept() {
        let kept = r#"{"tokens": {}}"#;
        let result = CommandResult {
            success: true,
            data: Some(Data::trusted(kept.to_owned()).unwrap()),
            error: None,
            warnings: Vec::new(),
            metadata: metadata(),
        };
        let mut written = Vec::new();
        result.write_json(&mut written).unwrap();
        let text = String::from_utf8(written).unwrap();
        assert!(
            text.starts_with(&format!(r#"{{"success":true,"data":{kept},"error":null"#)),
            "{text}"
        );
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["data"], json!({"tokens": {}}));
    }
}
