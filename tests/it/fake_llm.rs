//! The scripted fake LLM of the real-agent tests (`tests/common/fake_llm/`) on its own, without
//! an agent: the wire formats, the script and its matching (text and `isError`), the records.


use crate::common::fake_llm::{Api, FakeLlm, failed, prompt, result};
use serde_json::{Value, json};

/// The fake LLM itself, without an agent: the wire formats, the script, the records.
#[tokio::test]
async fn the_fake_llm_follows_its_script() {
    async fn post(url: String, body: Value) -> String {
        let r = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        r.text().await.unwrap()
    }
    fn data(sse: &str) -> Vec<Value> {
        sse.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }
    let tools = json!([{"type": "function", "function": {"name": "t", "parameters": {}}}]);

    let llm = FakeLlm::start(
        Api::OpenAi,
        vec![
            prompt("do it").call("t", json!({"text": "héllo wörld"})),
            result("ok").say("Done now."),
        ],
    );
    let url = format!("{}/v1/chat/completions", llm.url());
    let user = json!({"role": "user", "content": "please do it"});
    // No tools: a side request, answered without taking a step.
    let title = post(
        url.clone(),
        json!({"model": "m", "stream": true, "messages": [user]}),
    )
    .await;
    assert_eq!(llm.progress(), (0, 2));
    assert!(title.ends_with("data: [DONE]\n\n"), "{title}");
    let call = post(
        url.clone(),
        json!({"model": "m", "stream": true, "tools": tools, "messages": [user]}),
    )
    .await;
    let chunks = data(&call);
    let args: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"text": "héllo wörld"})
    );
    let names: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["name"].as_str())
        .collect();
    assert_eq!(names, ["t"]);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
    // The tool's result moves the script on.
    let messages = json!([user, {"role": "assistant", "tool_calls": []},
                          {"role": "tool", "tool_call_id": "call_1", "content": "ok, done"}]);
    let text = post(
        url.clone(),
        json!({"model": "m", "stream": true, "tools": tools, "messages": messages}),
    )
    .await;
    let said: String = data(&text)
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(said, "Done now.");
    assert!(llm.errors().is_empty(), "{}", llm.report());
    // Past the end: recorded as an error, answered with text.
    post(
        url,
        json!({"model": "m", "stream": true, "tools": tools, "messages": [user]}),
    )
    .await;
    assert_eq!(llm.errors().len(), 1, "{}", llm.report());
    assert_eq!(llm.requests().len(), 4);
    assert_eq!(llm.main_requests().len(), 3);
    assert_eq!(llm.main_requests()[0].step, Some(0));

    let llm = FakeLlm::start(
        Api::Anthropic,
        vec![result("wrong").say("never"), prompt("x").say("never")],
    );
    let tools = json!([{"name": "t", "input_schema": {}}]);
    let count = post(
        format!("{}/v1/messages/count_tokens", llm.url()),
        json!({"messages": []}),
    )
    .await;
    assert!(serde_json::from_str::<Value>(&count).unwrap()["input_tokens"].is_u64());
    let messages = json!([{"role": "user", "content": [{"type": "text", "text": "go"}]}]);
    let sse = post(
        format!("{}/v1/messages?beta=true", llm.url()),
        json!({"model": "c", "stream": true, "tools": tools, "messages": messages}),
    )
    .await;
    let mut events: Vec<&str> = sse
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    events.dedup(); // the text comes in several deltas
    assert_eq!(
        events,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    // The step did not match: not consumed, and said.
    assert_eq!(llm.progress(), (0, 2));
    assert!(
        llm.errors()[0].contains("step 0 expects ToolResult"),
        "{:?}",
        llm.errors()
    );

    // isError: a failed result does not move on a step that expects success, nor a successful
    // one a step that expects a failure.
    let llm = FakeLlm::start(
        Api::Anthropic,
        vec![
            prompt("go").call("t", json!({})),
            failed("refused").call("t", json!({})),
            result("fine").say("Done."),
        ],
    );
    let url = format!("{}/v1/messages", llm.url());
    let ask = |content: Value| json!({"model": "c", "tools": tools, "messages": [{"role": "user", "content": content}]});
    let outcome = |text: &str, is_error: bool| {
        ask(
            json!([{"type": "tool_result", "tool_use_id": "toolu_1", "content": text,
                    "is_error": is_error}]),
        )
    };
    post(url.clone(), ask(json!("go"))).await;
    assert_eq!(llm.progress(), (1, 3), "{}", llm.report());
    post(url.clone(), outcome("refused", false)).await;
    assert_eq!(llm.progress(), (1, 3), "{}", llm.report());
    post(url.clone(), outcome("refused", true)).await;
    assert_eq!(llm.progress(), (2, 3), "{}", llm.report());
    post(url.clone(), outcome("fine", true)).await;
    assert_eq!(llm.progress(), (2, 3), "{}", llm.report());
    post(url, outcome("fine", false)).await;
    assert_eq!(llm.progress(), (3, 3), "{}", llm.report());
    assert_eq!(llm.errors().len(), 2, "{}", llm.report());
    assert_eq!(llm.failed_calls(), ["t"]);
}
