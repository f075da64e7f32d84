//! How `-m/--model` reaches an agent, read from its `session/new` reply. Agents offer the choice
//! in one of two ways: a `model` session config option (`session/set_config_option`, stable ACP;
//! opencode), or a `models` object with `availableModels` and `currentModelId`
//! (`session/set_model`, unstable ACP; claude-code-acp).

use serde_json::Value;

use super::client::AgentError;

/// The request that selects the model.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Route {
    /// `session/set_config_option` with this config id.
    ConfigOption(String),
    /// `session/set_model`.
    SetModel,
}

/// How to select `model` given the agent's `session/new` reply (raw JSON, since the typed reply
/// drops `models`); `None` when the agent offers no choice. A model the agent does not list is
/// refused with the list.
pub(super) fn route(reply: &Value, model: &str, agent: &str) -> Result<Option<Route>, AgentError> {
    let option = reply
        .get("configOptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|o| {
            o.get("id").and_then(Value::as_str) == Some("model")
                || o.get("category").and_then(Value::as_str) == Some("model")
        });
    let (offered, route) = if let Some(option) = option {
        let mut values = Vec::new();
        collect_values(&option["options"], &mut values);
        let id = option["id"].as_str().unwrap_or("model").to_string();
        (values, Route::ConfigOption(id))
    } else if let Some(models) = reply
        .pointer("/models/availableModels")
        .and_then(Value::as_array)
    {
        let ids = models
            .iter()
            .filter_map(|m| m.get("modelId").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        (ids, Route::SetModel)
    } else {
        return Ok(None);
    };
    if !offered.is_empty() && !offered.iter().any(|v| v == model) {
        return Err(AgentError::ModelRefused {
            agent: agent.to_string(),
            model: model.to_string(),
            offered,
        });
    }
    Ok(Some(route))
}

fn collect_values(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect_values(i, out)),
        Value::Object(map) => {
            if let Some(value) = map.get("value").and_then(Value::as_str) {
                out.push(value.to_string());
            }
            if let Some(nested) = map.get("options") {
                collect_values(nested, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_model_config_option_comes_first() {
        let reply = json!({
            "configOptions": [{"id": "model", "type": "select", "options": [
                {"value": "a/b", "name": "B"},
                {"group": "g", "options": [{"value": "c/d", "name": "D"}]}
            ]}],
            "models": {"availableModels": [{"modelId": "x", "name": "X"}]}
        });
        assert_eq!(
            route(&reply, "c/d", "agent").unwrap(),
            Some(Route::ConfigOption("model".into()))
        );
        let e = route(&reply, "x", "agent").unwrap_err().to_string();
        assert_eq!(e, "agent does not offer the model 'x'; it offers: a/b, c/d");
    }

    #[test]
    fn advertised_models_are_chosen_with_set_model() {
        let reply = json!({
            "sessionId": "s",
            "models": {"currentModelId": "default", "availableModels": [
                {"modelId": "default", "name": "Default"},
                {"modelId": "opus", "name": "Opus"}
            ]}
        });
        assert_eq!(
            route(&reply, "opus", "claude").unwrap(),
            Some(Route::SetModel)
        );
        let e = route(&reply, "gpt", "claude").unwrap_err().to_string();
        assert!(e.ends_with("it offers: default, opus"), "{e}");
    }

    #[test]
    fn no_choice_offered() {
        assert_eq!(route(&json!({"sessionId": "s"}), "m", "a").unwrap(), None);
    }
}
