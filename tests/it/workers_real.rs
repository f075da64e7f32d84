//! The real opencode, driven by its fake LLM, as two workers on a three-task spec: each worker's
//! opencode gets its own task in its prompt, writes the file in its own worktree and completes
//! the task; iteratr integrates both into `main` and completes the session.

use std::time::Duration;

use serde_json::json;

use crate::common::fake_llm::{Api, FakeLlm, prompt, result};
use crate::common::project::{git, git_init};
use crate::common::real_agent::{
    Project, assert_none_left, opencode, opencode_env, quote, run_script_to_the_end,
};

#[test]
fn opencode_as_two_workers_completes_a_three_task_spec() {
    let opencode = opencode();
    let p = Project::new(
        "team",
        "# Team\n\n- [ ] write a.txt: alpha\n- [ ] write b.txt: beta\n- [ ] write c.txt: gamma\n",
    );
    git_init(&p.path());
    std::fs::write(p.path().join(".gitignore"), ".iteratr/\n").unwrap();
    git(&p.path(), &["add", "."]);
    git(&p.path(), &["commit", "--quiet", "-m", "initial"]);
    let mut steps = vec![prompt("planning iteration").say("Planned.")];
    for (n, (file, text)) in [("a.txt", "alpha"), ("b.txt", "beta"), ("c.txt", "gamma")]
        .into_iter()
        .enumerate()
    {
        let id = format!("TAS-{}", n + 1);
        let thread = format!("iteratr gave you task {id}:");
        steps.extend([
            prompt(&thread)
                .call(
                    "write",
                    json!({"filePath": file, "content": format!("{text}\n")}),
                )
                .in_thread(&thread),
            result("Wrote file successfully")
                .call(
                    "iteratr_task-status",
                    json!({"id": id, "status": "completed"}),
                )
                .in_thread(&thread),
            result(&format!("{id} is now completed"))
                .say("Done.")
                .in_thread(&thread),
        ]);
    }
    let llm = FakeLlm::start(Api::OpenAi, steps);
    let mut cmd = p.build(
        &format!("{} acp", quote(&opencode)),
        &["--workers", "2", "-m", "fakellm/scripted"],
    );
    opencode_env(&mut cmd, &llm, "other");
    let (out, context) = run_script_to_the_end(cmd, &llm, &p, Duration::from_secs(170));
    for (file, text) in [("a.txt", "alpha"), ("b.txt", "beta"), ("c.txt", "gamma")] {
        assert_eq!(git(&p.path(), &["show", &format!("main:{file}")]), text);
    }
    assert!(
        out.stdout.contains("[w1]") && out.stdout.contains("[w2]"),
        "{}",
        context
    );
    let s = p.status();
    assert_eq!(s["completed"], true, "{s}");
    let workers: std::collections::BTreeSet<&str> = s["iterations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["worker"].as_str())
        .collect();
    assert_eq!(workers.len(), 2, "{s}");
    assert_none_left(&opencode.display().to_string(), &p.path());
}
