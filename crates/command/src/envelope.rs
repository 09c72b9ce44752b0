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
        match &self.error {
            Some(error) => serde_json::to_writer(&mut *out, error)?,
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"warnings\":");
        serde_json::to_writer(&mut *out, &self.warnings)?;
        out.extend_from_slice(b",\"metadata\":");
        self.metadata.write_json(out)?;
        out.push(b'}');
        Ok(())
    }
}

impl Metadata {
    /// Appends the metadata as JSON, as serde writes it. By hand because it is on every answer:
    /// the names need no escaping and the values (command names, trace ids) rarely do.
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        out.extend_from_slice(b"{\"command\":");
        write_str(out, &self.command)?;
        out.extend_from_slice(b",\"traceId\":");
        write_str(out, &self.trace_id)?;
        out.extend_from_slice(b",\"durationMs\":");
        serde_json::to_writer(&mut *out, &self.duration_ms)?;
        out.extend_from_slice(b",\"instance\":");
        write_str(out, &self.instance)?;
        out.extend_from_slice(b",\"cache\":");
        out.extend_from_slice(match self.cache {
            None => b"null",
            Some(CacheStatus::Hit) => b"\"hit\"",
            Some(CacheStatus::Miss) => b"\"miss\"",
            Some(CacheStatus::Bypass) => b"\"bypass\"",
        });
        out.extend_from_slice(b",\"revision\":");
        match &self.revision {
            Some(revision) => write_str(out, revision)?,
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"commandVersion\":");
        match self.command_version {
            Some(version) => serde_json::to_writer(&mut *out, &version)?,
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
        Ok(())
    }
}

/// A JSON string: copied as it is when nothing in it needs escaping, else written by serde.
fn write_str(out: &mut Vec<u8>, text: &str) -> Result<(), serde_json::Error> {
    if needs_escape(text.as_bytes()) {
        serde_json::to_writer(out, text)
    } else {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
        Ok(())
    }
}

/// Whether `text` holds a byte JSON must escape (a control character, `"` or `\`), checked eight
/// bytes at a time: it runs for every string of every envelope's metadata.
fn needs_escape(text: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH_BITS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Some byte of `v` is below `n` (n <= 0x80): subtracting n from it sets its high bit, which
    // `!v` keeps only for bytes that did not have it already.
    let any_below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGH_BITS != 0;
    let any_equal = |v: u64, b: u8| any_below(v ^ (ONES * u64::from(b)), 1);
    let mut chunks = text.chunks_exact(8);
    for chunk in &mut chunks {
        let mut eight = [0; 8];
        eight.copy_from_slice(chunk);
        let v = u64::from_ne_bytes(eight);
        if any_below(v, 0x20) || any_equal(v, b'"') || any_equal(v, b'\\') {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
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
    fn needs_escape_finds_every_byte_json_escapes_at_every_position() {
        for len in 0..20 {
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut text = vec![b'a'; len];
                    text[at] = byte;
                    let expected = byte < 0x20 || byte == b'"' || byte == b'\\';
                    assert_eq!(
                        needs_escape(&text),
                        expected,
                        "byte {byte:#x} at {at} of {len}"
                    );
                }
            }
            assert!(!needs_escape(&vec![0x7f; len]));
            assert!(!needs_escape("é€😀".repeat(len).as_bytes()));
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
        let mut varied = metadata();
        varied.command = "a\u{1}\\b\u{e9}".to_owned();
        varied.revision = Some("42".to_owned());
        varied.command_version = None;
        varied.duration_ms = 0.0;
        let mut others = Vec::new();
        for cache in [None, Some(CacheStatus::Miss), Some(CacheStatus::Bypass)] {
            let mut result = ok.clone();
            result.metadata = Metadata {
                cache,
                ..varied.clone()
            };
            others.push(result);
        }
        for result in [ok, failed].into_iter().chain(others) {
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
