//! What an agent says it used: tokens and cost.

use serde::{Deserialize, Serialize};

/// Tokens and cost as an agent reports them (the prompt's reply, `usage_update`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_tokens: u64,
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// What it cost, in `currency`, where the agent says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

impl Usage {
    /// Input and output tokens (what budgets count; cache reads are part of the input).
    pub fn tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    pub fn is_empty(&self) -> bool {
        self.tokens() == 0 && self.cost.is_none()
    }

    /// Adds `other` (costs add up when both are in the same currency or one has none).
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cache_read_tokens = self
            .cache_read_tokens
            .saturating_add(other.cache_read_tokens);
        self.cache_write_tokens = self
            .cache_write_tokens
            .saturating_add(other.cache_write_tokens);
        if let Some(cost) = other.cost.filter(|c| c.is_finite() && *c >= 0.0) {
            self.cost = Some(self.cost.unwrap_or(0.0) + cost);
            if self.currency.is_none() {
                self.currency.clone_from(&other.currency);
            }
        }
    }
}

impl std::fmt::Display for Usage {
    /// "12.3k tokens, 0.04 USD".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.tokens();
        if t >= 10_000 {
            write!(f, "{:.1}k tokens", t as f64 / 1000.0)?;
        } else {
            write!(f, "{t} tokens")?;
        }
        if let Some(cost) = self.cost {
            write!(f, ", {cost:.2} {}", self.currency.as_deref().unwrap_or(""))?;
        }
        Ok(())
    }
}
