//! Reading a JSON request body field by field, so each problem is reported with the field's
//! name and what it should be (axum's generic rejections say neither).

use super::error::{ApiError, ApiResult};
use serde_json::{Map, Value};

pub struct Body {
    fields: Map<String, Value>,
}

impl Body {
    pub fn parse(bytes: &[u8]) -> ApiResult<Body> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("The request body is not valid JSON: {e}.")))?;
        match value {
            Value::Object(fields) => Ok(Body { fields }),
            _ => Err(ApiError::unprocessable("The request body must be a JSON object.")),
        }
    }

    pub fn has(&self, field: &str) -> bool {
        self.fields.get(field).is_some_and(|v| !v.is_null())
    }

    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields.get(field).filter(|v| !v.is_null())
    }

    /// Rejects fields the resource does not have (`id` and `links` are ignored, so a body read
    /// with GET can be sent back).
    pub fn only(&self, allowed: &[&str]) -> ApiResult<()> {
        for field in self.fields.keys() {
            if !allowed.contains(&field.as_str()) && field != "id" && field != "links" {
                return Err(ApiError::unprocessable(format!("Unknown field {field:?}; the fields are: {}.", allowed.join(", "))));
            }
        }
        Ok(())
    }

    pub fn string(&self, field: &str, max: usize) -> ApiResult<Option<String>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
            Some(Value::String(_)) => Err(ApiError::unprocessable(format!("{field} must be at most {max} characters long."))),
            Some(other) => Err(ApiError::unprocessable(format!("{field} must be a string, not {other}."))),
        }
    }

    pub fn required_string(&self, field: &str, max: usize) -> ApiResult<String> {
        self.string(field, max)?.ok_or_else(|| ApiError::unprocessable(format!("{field} is required.")))
    }

    pub fn string_list(&self, field: &str) -> ApiResult<Option<Vec<String>>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned).ok_or_else(|| ApiError::unprocessable(format!("{field} must be a list of strings; {item} is not one."))))
                .collect::<ApiResult<Vec<_>>>()
                .map(Some),
            Some(other) => Err(ApiError::unprocessable(format!("{field} must be a list of strings, not {other}."))),
        }
    }

    /// A `{"key": "value", …}` object, in the order written.
    pub fn string_map(&self, field: &str) -> ApiResult<Option<Vec<(String, String)>>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    other => Err(ApiError::unprocessable(format!("{field}.{k} must be a string, not {other}."))),
                })
                .collect::<ApiResult<Vec<_>>>()
                .map(Some),
            Some(other) => Err(ApiError::unprocessable(format!("{field} must be an object of key/value strings, not {other}."))),
        }
    }
}
