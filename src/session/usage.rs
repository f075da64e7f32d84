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

impl super::SessionState {
    /// A worker's iteration works on the task the worker holds when it starts; another one on
    /// the tasks left in progress (nobody holds) when it starts, which it takes up again.
    pub(super) fn work_on_start(&mut self, iteration: u32) {
        let Some(worker) = self
            .iterations
            .get(&iteration)
            .and_then(|it| it.worker.clone())
        else {
            let carried: Vec<u64> = self
                .tasks_with_status(super::TaskStatus::InProgress)
                .into_iter()
                .filter(|t| t.claim.is_none())
                .map(|t| t.id)
                .collect();
            if let Some(it) = self.iterations.get_mut(&iteration) {
                it.worked_on.extend(carried);
            }
            return;
        };
        if let Some(task) = self.claim_of(&worker).map(|t| t.id)
            && let Some(it) = self.iterations.get_mut(&iteration)
        {
            it.worked_on.insert(task);
        }
    }

    /// Shares a finished iteration's usage among the tasks it worked on, evenly (the first
    /// takes what does not divide).
    pub(super) fn attribute_usage(&mut self, iteration: u32) {
        let Some(it) = self.iterations.get(&iteration) else {
            return;
        };
        let (Some(usage), n) = (it.usage.as_ref(), it.worked_on.len() as u64) else {
            return;
        };
        if n == 0 {
            return;
        }
        let shares: Vec<(u64, Usage)> = it
            .worked_on
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, usage.share(n, i == 0)))
            .collect();
        for (id, share) in shares {
            if let Some(t) = self.tasks.get_mut(&id) {
                t.usage.add(&share);
            }
        }
    }

    /// Tokens and cost no task was given: iterations that worked on none (planning, say).
    pub fn unattributed_usage(&self) -> Usage {
        let mut total = Usage::default();
        for it in self.iterations.values() {
            if let Some(u) = it.usage.as_ref().filter(|_| it.worked_on.is_empty()) {
                total.add(u);
            }
        }
        total
    }
}

impl Usage {
    /// One of `n` even shares; `first` also takes the remainders.
    fn share(&self, n: u64, first: bool) -> Usage {
        let part = |v: u64| v / n + if first { v % n } else { 0 };
        Usage {
            input_tokens: part(self.input_tokens),
            output_tokens: part(self.output_tokens),
            cache_read_tokens: part(self.cache_read_tokens),
            cache_write_tokens: part(self.cache_write_tokens),
            cost: self.cost.map(|c| c / n as f64),
            currency: self.currency.clone(),
        }
    }
}
