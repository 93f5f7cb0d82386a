//! Limits on every tool input, checked before the tool gate: a call over them is neither run
//! nor put to an approver.

use serde_json::Value;

use super::{ToolError, ToolName, file};

/// Longest string anywhere in a tool input, in characters, unless [`FIELD_LIMITS`] gives its
/// field a limit of its own. Longer inputs are refused, never cut: a cut input would run as
/// something the model did not ask for.
pub const MAX_INPUT_STRING_CHARS: usize = 32_000;
/// Most bytes one tool input holds in all: every string's bytes (field names included) plus one
/// for each other value. Room for the largest field and ordinary fields beside it.
pub const MAX_INPUT_TOTAL_BYTES: usize = file::MAX_WRITE_BYTES + 64 * 1024;
/// Fields with a limit of their own, in bytes: (tool, top-level field, limit).
pub const FIELD_LIMITS: [(ToolName, &str, usize); 1] = [(ToolName::FileWrite, "content", file::MAX_WRITE_BYTES)];

/// Longest field name accepted in a tool input, in characters.
pub const MAX_FIELD_NAME_CHARS: usize = 64;

/// A field name as quoted in an error: on one line, without backticks.
fn shown_name(key: &str) -> String {
    key.chars().map(|c| if c.is_control() || c == '`' { '?' } else { c }).collect()
}

/// Why a tool input is refused before the tool sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("input field `{field}` is {size} bytes; the limit is {limit}")]
    FieldBytes { field: String, size: usize, limit: usize },
    #[error("input field `{field}` is {size} characters; the limit is {limit}")]
    FieldChars { field: String, size: usize, limit: usize },
    #[error("a field name in the input is {size} characters; the limit is {limit}")]
    NameChars { size: usize, limit: usize },
    #[error("the input is {size} bytes in all; the limit is {limit}")]
    TotalBytes { size: usize, limit: usize },
}

impl From<InputError> for ToolError {
    fn from(e: InputError) -> Self {
        ToolError::InvalidInput(e.to_string())
    }
}

/// Checks `input` of `tool` against the input limits: every string within
/// [`MAX_INPUT_STRING_CHARS`] (or its field's limit in [`FIELD_LIMITS`]), every field name within
/// [`MAX_FIELD_NAME_CHARS`], the whole within [`MAX_INPUT_TOTAL_BYTES`]. The first field over
/// its limit is named in the error (`content`, `items[2].name`).
pub fn validate_input(tool: &str, input: &Value) -> Result<(), InputError> {
    let mut total = 0usize;
    walk_input(tool, input, &mut String::new(), None, true, &mut total)?;
    if total > MAX_INPUT_TOTAL_BYTES {
        return Err(InputError::TotalBytes { size: total, limit: MAX_INPUT_TOTAL_BYTES });
    }
    Ok(())
}

/// [`validate_input`] for the value at `path` (`top`: the input itself), adding its size to `total`.
fn walk_input(
    tool: &str,
    v: &Value,
    path: &mut String,
    own_limit: Option<usize>,
    top: bool,
    total: &mut usize,
) -> Result<(), InputError> {
    match v {
        Value::String(s) => {
            *total += s.len();
            if let Some(limit) = own_limit {
                if s.len() > limit {
                    return Err(InputError::FieldBytes { field: path.clone(), size: s.len(), limit });
                }
                return Ok(());
            }
            // Counting stops just past the limit; only a refused string is counted in full.
            if s.chars().nth(MAX_INPUT_STRING_CHARS).is_some() {
                return Err(InputError::FieldChars {
                    field: path.clone(),
                    size: s.chars().count(),
                    limit: MAX_INPUT_STRING_CHARS,
                });
            }
            Ok(())
        }
        Value::Array(items) => {
            *total += 1;
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk_input(tool, item, path, None, false, total)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            *total += 1;
            for (key, item) in map {
                let size = key.chars().count();
                if size > MAX_FIELD_NAME_CHARS {
                    return Err(InputError::NameChars { size, limit: MAX_FIELD_NAME_CHARS });
                }
                *total += key.len();
                // Only the input's own (top-level) fields have limits of their own.
                let own = if top {
                    FIELD_LIMITS.iter().find(|(t, f, _)| t.as_str() == tool && f == key).map(|(_, _, limit)| *limit)
                } else {
                    None
                };
                let len = path.len();
                if !top {
                    path.push('.');
                }
                path.push_str(&shown_name(key));
                walk_input(tool, item, path, own, false, total)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => {
            *total += 1;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A string of `n` bytes.
    fn bytes(n: usize) -> String {
        "a".repeat(n)
    }

    #[test]
    fn file_write_content_may_be_exactly_its_limit() {
        let max = file::MAX_WRITE_BYTES;
        assert_eq!(validate_input("file_write", &json!({"path": "a.txt", "content": bytes(max)})), Ok(()));
        let err = validate_input("file_write", &json!({"path": "a.txt", "content": bytes(max + 1)})).unwrap_err();
        assert_eq!(err.to_string(), "input field `content` is 1048577 bytes; the limit is 1048576");
        assert_eq!(
            ToolError::from(err).to_string(),
            "invalid input: input field `content` is 1048577 bytes; the limit is 1048576"
        );
        // Bytes, not characters: 2-byte characters reach the limit at half the count.
        let wide = "é".repeat(max / 2 + 1);
        assert!(matches!(
            validate_input("file_write", &json!({"path": "a", "content": wide})),
            Err(InputError::FieldBytes { size, .. }) if size == max + 2
        ));
    }

    #[test]
    fn other_strings_may_be_exactly_the_general_limit_in_characters() {
        let max = MAX_INPUT_STRING_CHARS;
        assert_eq!(validate_input("file_write", &json!({"path": bytes(max), "content": ""})), Ok(()));
        assert_eq!(
            validate_input("file_write", &json!({"path": bytes(max + 1), "content": ""})).unwrap_err().to_string(),
            "input field `path` is 32001 characters; the limit is 32000"
        );
        // Characters, not bytes.
        assert_eq!(validate_input("shell", &json!({"command": "é".repeat(max)})), Ok(()));
        // A field's own limit belongs to its tool only.
        assert_eq!(
            validate_input("memory_write", &json!({"content": bytes(max + 1)})).unwrap_err().to_string(),
            "input field `content` is 32001 characters; the limit is 32000"
        );
        // Nested fields are named by their path, and a nested `content` has no limit of its own.
        let nested = json!({"items": [{"name": "ok"}, {"content": bytes(max + 1)}]});
        assert_eq!(
            validate_input("file_write", &nested).unwrap_err().to_string(),
            "input field `items[1].content` is 32001 characters; the limit is 32000"
        );
    }

    #[test]
    fn field_names_may_be_exactly_their_limit() {
        let name = |n: usize| json!({ bytes(n): 1 });
        assert_eq!(validate_input("x", &name(MAX_FIELD_NAME_CHARS)), Ok(()));
        assert_eq!(
            validate_input("x", &name(MAX_FIELD_NAME_CHARS + 1)).unwrap_err(),
            InputError::NameChars { size: 65, limit: 64 }
        );
    }

    #[test]
    fn the_whole_input_may_be_exactly_its_limit() {
        // Object 1 + "content" 7 + content + "a" "b" "c" 3 + their strings.
        let content = file::MAX_WRITE_BYTES;
        let rest = MAX_INPUT_TOTAL_BYTES - 1 - 7 - content - 3;
        let input = |extra: usize| {
            let third = rest + extra - 2 * MAX_INPUT_STRING_CHARS;
            json!({
                "content": bytes(content),
                "a": bytes(MAX_INPUT_STRING_CHARS),
                "b": bytes(MAX_INPUT_STRING_CHARS),
                "c": bytes(third),
            })
        };
        assert_eq!(validate_input("file_write", &input(0)), Ok(()));
        assert_eq!(
            validate_input("file_write", &input(1)).unwrap_err(),
            InputError::TotalBytes { size: MAX_INPUT_TOTAL_BYTES + 1, limit: MAX_INPUT_TOTAL_BYTES }
        );
        // Other values count one each: many small numbers add up too.
        let many = json!({ "n": vec![0; MAX_INPUT_TOTAL_BYTES] });
        assert!(matches!(validate_input("x", &many), Err(InputError::TotalBytes { .. })));
    }
}
