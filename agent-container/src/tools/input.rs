//! Tool inputs: each tool reads its input into one Rust type, and that type also describes the
//! input to the model.
//!
//! An input type derives `Deserialize` and `JsonSchema`: [`input_schema`] makes the schema
//! offered to the model from it and [`parse_input`] reads a call's input into it, so what the
//! model is told and what the tool accepts cannot drift apart. A field the model may leave out
//! is an `Option` (`null` reads as left out); a type whose schema says
//! `"additionalProperties": false` denies unknown fields. What a schema does not check
//! (emptiness, NUL bytes, lengths in bytes) the tool checks after parsing, and the size limits of
//! [`super::validate_input`] apply before either.
//!
//! Both provider wire formats (Bedrock Converse `inputSchema.json`, OpenAI-compatible
//! `parameters`) take the schema as it is: one object schema with every subschema inline (no
//! `$ref` or `$defs`), without `$schema`, `title` or `format`, and without `null` among its
//! types (a field that may be left out is simply not required).

use schemars::generate::SchemaSettings;
use schemars::transform::{RecursiveTransform, RestrictFormats};
use schemars::{JsonSchema, Schema};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::ToolError;
use super::workspace::shown;

/// The JSON schema of `T` as offered to the model.
pub fn input_schema<T: JsonSchema>() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.inline_subschemas = true;
    settings.meta_schema = None;
    // Without a meta-schema to infer the standard formats from, no format is kept: `uint64` and
    // the like mean nothing to the providers.
    let mut formats = RestrictFormats::default();
    formats.infer_from_meta_schema = false;
    settings.transforms.push(Box::new(formats));
    settings.transforms.push(Box::new(RecursiveTransform(without_null)));
    let mut schema = settings.into_generator().into_root_schema_for::<T>();
    // The type's name and doc comment are for readers of the code; the tool's description is
    // what the model reads.
    schema.remove("title");
    schema.remove("description");
    let mut schema = schema.to_value();
    // Even a tool without parameters lists its (no) properties: OpenAI-compatible servers
    // expect the key on an object schema.
    if let Some(object) = schema.as_object_mut() {
        object.entry("properties").or_insert_with(|| Value::Object(Map::new()));
    }
    schema
}

/// `null` out of a schema's types and enum values: an optional field is one that is not
/// required, and a model offered `null` tends to send it.
fn without_null(schema: &mut Schema) {
    let Some(object) = schema.as_object_mut() else { return };
    if let Some(Value::Array(types)) = object.get("type") {
        let mut types: Vec<Value> = types.iter().filter(|t| t.as_str() != Some("null")).cloned().collect();
        let single = if types.len() == 1 { types.pop() } else { None };
        object.insert("type".into(), single.unwrap_or(Value::Array(types)));
    }
    if let Some(Value::Array(values)) = object.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
}

/// Reads a call's input into `T`. An input that does not fit is an
/// [`ToolError::InvalidInput`] that names the field and says what it must be, in the words of
/// `T`'s schema; `null` reads as an empty input.
pub fn parse_input<T: DeserializeOwned + JsonSchema>(input: &Value) -> Result<T, ToolError> {
    let empty = Value::Object(Map::new());
    let input = if input.is_null() { &empty } else { input };
    serde_path_to_error::deserialize(input).map_err(|e| {
        let field = match e.path().iter().next() {
            Some(serde_path_to_error::Segment::Map { key }) => Some(key.clone()),
            _ => None,
        };
        ToolError::InvalidInput(explain(&input_schema::<T>(), input, field.as_deref(), e.inner()))
    })
}

/// What is wrong with `input` under `schema`, given the field serde stopped at (if any).
fn explain(schema: &Value, input: &Value, field: Option<&str>, error: &serde_json::Error) -> String {
    let properties = &schema["properties"];
    // A required field missing or of the wrong type comes first, whatever serde met first.
    for name in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        let property = &properties[name];
        if !input.get(name).is_some_and(|v| has_type(v, property)) {
            return format!("`{name}` ({}) is required", kind(property));
        }
    }
    if !input.is_object() {
        return "the input must be a JSON object".into();
    }
    match field.and_then(|f| Some((f, properties.get(f)?))) {
        Some((field, property)) => explain_field(field, property, input.get(field), error),
        // An unknown field: serde's message names it and lists the known ones.
        None => error.to_string(),
    }
}

fn explain_field(field: &str, property: &Value, value: Option<&Value>, error: &serde_json::Error) -> String {
    if property["type"] == "integer" {
        return match (property["minimum"].as_i64(), property["maximum"].as_i64()) {
            (Some(min), Some(max)) => format!("`{field}` must be a whole number from {min} to {max}"),
            _ => format!("`{field}` must be a whole number"),
        };
    }
    if !value.is_some_and(|v| has_type(v, property)) {
        return format!("`{field}` must be {}", kind(property));
    }
    if let Some(allowed) = property["enum"].as_array() {
        let names: Vec<String> = allowed.iter().map(|v| format!("`{}`", v.as_str().unwrap_or_default())).collect();
        let got = match value {
            Some(Value::String(s)) => shown(s),
            Some(other) => shown(&other.to_string()),
            None => String::new(),
        };
        return format!("`{field}` must be {}, not `{got}`", one_of(&names));
    }
    format!("`{field}`: {error}")
}

/// Whether `value` is of the JSON type `property` names (any, if it names none).
fn has_type(value: &Value, property: &Value) -> bool {
    match property["type"].as_str() {
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some("array") => value.is_array(),
        Some("object") => value.is_object(),
        _ => true,
    }
}

/// The JSON type `property` names, as said to the model.
fn kind(property: &Value) -> &'static str {
    match property["type"].as_str() {
        Some("string") => "a string",
        Some("integer") => "a whole number",
        Some("number") => "a number",
        Some("boolean") => "true or false",
        Some("array") => "a list",
        Some("object") => "an object",
        _ => "a value",
    }
}

/// `a`, `a or b`, `a, b or c`.
fn one_of(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [only] => only.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::*;

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "lowercase")]
    enum Colour {
        #[default]
        Red,
        Blue,
    }

    /// A sample input: described for the model by its doc comments and attributes.
    #[derive(Debug, PartialEq, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        /// The name.
        name: String,
        /// How often.
        #[schemars(range(min = 1, max = 9))]
        times: Option<NonZeroU64>,
        /// Which one.
        colour: Option<Colour>,
        note: Option<String>,
    }

    fn parse(input: Value) -> Result<Sample, String> {
        parse_input::<Sample>(&input).map_err(|e| e.to_string())
    }

    #[test]
    fn the_schema_is_a_plain_object_schema() {
        assert_eq!(
            input_schema::<Sample>(),
            json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "The name."},
                    "times": {"type": "integer", "minimum": 1, "maximum": 9, "description": "How often."},
                    "colour": {"type": "string", "enum": ["red", "blue"], "description": "Which one."},
                    "note": {"type": "string"}
                },
                "required": ["name"],
                "additionalProperties": false
            })
        );
    }

    #[test]
    fn inputs_are_read_and_what_does_not_fit_is_named() {
        let sample = |times: Option<u64>, colour| Sample {
            name: "n".into(),
            times: times.and_then(NonZeroU64::new),
            colour,
            note: None,
        };
        assert_eq!(parse(json!({"name": "n", "times": 3, "colour": "blue"})), Ok(sample(Some(3), Some(Colour::Blue))));
        assert_eq!(parse(json!({"name": "n", "times": null, "colour": null})), Ok(sample(None, None)));
        for (input, expected) in [
            (json!({}), "invalid input: `name` (a string) is required"),
            (json!(null), "invalid input: `name` (a string) is required"),
            (json!({"name": 7}), "invalid input: `name` (a string) is required"),
            (json!({"colour": "green"}), "invalid input: `name` (a string) is required"),
            (json!({"name": "n", "times": 0}), "invalid input: `times` must be a whole number from 1 to 9"),
            (json!({"name": "n", "times": "2"}), "invalid input: `times` must be a whole number from 1 to 9"),
            (json!({"name": "n", "times": 2.5}), "invalid input: `times` must be a whole number from 1 to 9"),
            (json!({"name": "n", "colour": "green"}), "invalid input: `colour` must be `red` or `blue`, not `green`"),
            (json!({"name": "n", "colour": 1}), "invalid input: `colour` must be a string"),
            (json!({"name": "n", "note": []}), "invalid input: `note` must be a string"),
        ] {
            assert_eq!(parse(input.clone()), Err(expected.to_owned()), "{input}");
        }
        let unknown = parse(json!({"name": "n", "extra": 1})).unwrap_err();
        assert!(unknown.starts_with("invalid input: unknown field `extra`"), "{unknown}");

        #[derive(Debug, Deserialize, JsonSchema)]
        struct Nothing {}
        assert!(parse_input::<Nothing>(&json!(null)).is_ok());
        let err = parse_input::<Nothing>(&json!(["x"])).unwrap_err();
        assert_eq!(err.to_string(), "invalid input: the input must be a JSON object");
    }
}
