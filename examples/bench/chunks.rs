//! `tui_stress`'s flood, as the fake agent's actions: shared by `tui_stress` and `bench --output`
//! so both stream the same chunks.

/// `chunks` text chunks: a word, and every eighth a Markdown line.
pub fn flood(chunks: usize) -> Vec<serde_json::Value> {
    (0..chunks)
        .map(|i| {
            let text = if i % 8 == 7 {
                format!("chunk {i} with `code` and **bold**\n")
            } else {
                format!("chunk {i} ")
            };
            serde_json::json!({ "say": text })
        })
        .collect()
}
