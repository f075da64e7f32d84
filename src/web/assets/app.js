// The dashboard: the sessions page (#/) and a session's page (#/s/NAME), kept live over
// Server-Sent Events. Everything shown is built with render.js (text nodes only); every control
// is a POST of one op to /api/sessions/NAME/ops.
import { el, fill, inline, markdown, diffBlock, fileChange, chart, duration, clock, usageText } from "/assets/render.js";

const main = document.getElementById("main");
const crumb = document.getElementById("crumb");
const conn = document.getElementById("conn");
/** What the tests (and curious people) can read: the log events received, by sequence number. */
const seen = (window.iteratrSeen = { log: [], output: [] });
let live = null;

const STATUSES = ["remaining", "in_progress", "blocked", "completed", "cancelled"];
const OUTPUT_KEPT = 3000;

function connected(ok) {
  conn.className = "conn " + (ok ? "live" : "lost");
  conn.title = ok ? "live" : "reconnecting…";
}

function toast(text) {
  const t = el("div", { class: "toast", role: "status", text });
  document.body.append(t);
  setTimeout(() => t.remove(), 5000);
}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const res = await fetch(path, { credentials: "same-origin", ...init });
  const data = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  if (!res.ok) throw new Error(data.error || `${res.status}`);
  return data;
}

function follow(url, handlers) {
  if (live) live.close();
  const source = new EventSource(url);
  source.onopen = () => connected(true);
  source.onerror = () => connected(false);
  for (const [name, fn] of Object.entries(handlers)) {
    source.addEventListener(name, (e) => fn(JSON.parse(e.data), e));
  }
  source.addEventListener("warning", (e) => toast(JSON.parse(e.data).message));
  live = source;
}

function route() {
  if (live) { live.close(); live = null; }
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  if (hash.startsWith("s/")) sessionPage(hash.slice(2));
  else sessionsPage();
}
window.addEventListener("hashchange", route);
route();

// --- the sessions page ----------------------------------------------------------------------

function progress(done, total) {
  const pct = total ? Math.round((done / total) * 100) : 0;
  return el("div", { class: "progress", title: `${done} of ${total} tasks completed`, role: "progressbar",
    "aria-valuenow": pct, "aria-valuemin": 0, "aria-valuemax": 100 }, el("span", { style: null, data: {} }));
}

function setProgress(bar, done, total) {
  const pct = total ? Math.round((done / total) * 100) : 0;
  bar.firstChild.style.width = pct + "%";
  bar.setAttribute("aria-valuenow", pct);
  bar.title = `${done} of ${total} tasks completed`;
}

function sessionCard(s) {
  const bar = progress(s.completed, s.total);
  setProgress(bar, s.completed, s.total);
  return el("a", { class: "card session-card", href: "#/s/" + encodeURIComponent(s.name), data: { session: s.name } },
    el("h3", {}, s.name, " ", el("span", { class: "badge " + s.status, text: s.status }),
      s.waiting.length ? el("span", { class: "badge waiting", text: `${s.waiting.length} waiting` }) : null,
      s.questions.length ? el("span", { class: "badge waiting", text: `${s.questions.length} question${s.questions.length > 1 ? "s" : ""}` }) : null),
    el("div", { class: "row" }, bar, el("span", { class: "count", text: `${s.completed}/${s.total}` })),
    el("div", { class: "row muted" },
      s.iteration ? el("span", { text: `iteration ${s.iteration}` }) : null,
      s.workers.length ? el("span", { text: `workers: ${s.workers.join(", ")}` }) : null,
      el("span", { text: usageText(s.tokens, s.cost, s.currency) }),
      el("span", { text: s.last_activity_ms ? `last activity ${clock(s.last_activity_ms)}` : "" })));
}

async function sessionsPage() {
  crumb.textContent = "sessions";
  document.title = "iteratr";
  let data;
  try { data = await api("/api/sessions"); } catch (e) { main.replaceChildren(el("p", { class: "card", text: e.message })); return; }
  const list = el("div", { class: "sessions", id: "sessions" });
  const draw = (sessions) => list.replaceChildren(...(sessions.length
    ? sessions.map(sessionCard)
    : [el("p", { class: "muted", text: "No sessions yet: start one with iteratr build." })]));
  draw(data.sessions);
  main.replaceChildren(el("p", { class: "muted", text: data.store }), list);
  follow("/api/live", { sessions: (d) => draw(d.sessions) });
}

// --- a session's page -----------------------------------------------------------------------

async function sessionPage(name) {
  crumb.textContent = name;
  document.title = `${name} · iteratr`;
  let snap;
  try { snap = await api("/api/sessions/" + encodeURIComponent(name)); }
  catch (e) { main.replaceChildren(el("p", { class: "card", text: e.message })); return; }
  const page = new SessionPage(name, snap);
  main.replaceChildren(page.root);
  // When the page first showed the session (ms since the navigation started).
  seen.readyMs = performance.now();
  follow(`/api/sessions/${encodeURIComponent(name)}/live?after=${snap.state.events}`, {
    state: (d) => page.update(d),
    log: (e) => page.logEvent(e),
    output: (o) => page.output(o),
  });
}

class SessionPage {
  constructor(name, snap) {
    this.name = name;
    this.control = snap.role === "control";
    this.repository = snap.repository;
    this.panes = new Map();
    this.worker = null;
    this.bar = progress(0, 0);
    this.header = el("div", { class: "row", id: "summary" });
    this.requests = el("div", { class: "requests", id: "requests" });
    this.board = el("div", { class: "board", id: "board" });
    this.notes = el("div", { class: "notes", id: "notes" });
    this.iterations = el("div", { id: "iterations" });
    this.plots = el("div", { class: "plots", id: "plots" });
    this.workers = el("div", { class: "workers", id: "workers" });
    this.tabs = el("div", { class: "tabs", id: "output-tabs" });
    this.outputBox = el("div", { class: "output", id: "output" });
    this.activity = el("div", { class: "activity", id: "activity" });
    this.hooks = el("div", { id: "hooks" });
    this.diff = el("div", { id: "diff" });
    this.root = el("div", {},
      el("section", { class: "card" }, this.header, el("div", { class: "row" }, this.bar), this.workers),
      this.control ? this.controls() : el("p", { class: "muted", id: "view-only", text: "View only: this token sees the session but cannot steer it." }),
      this.requests,
      el("div", { class: "grid" },
        el("div", {},
          el("section", { class: "card" }, el("h2", { text: "Agent output" }), this.tabs, this.outputBox),
          el("section", { class: "card" }, el("h2", { text: "Tasks" }), this.control ? this.addTaskForm() : null, this.board),
          el("section", { class: "card" }, el("h2", { text: "Progress" }), this.plots)),
        el("div", {},
          el("section", { class: "card" }, el("h2", { text: "Activity" }), this.activity),
          el("section", { class: "card" }, el("h2", { text: "Iterations" }), this.iterations, this.diff),
          el("section", { class: "card" }, el("h2", { text: "Notes" }), this.notes),
          el("section", { class: "card" }, el("h2", { text: "Hooks" }), this.hooks))));
    this.update(snap);
    for (const e of snap.tail) this.logEvent(e, true);
  }

  async send(op, done) {
    try {
      await api(`/api/sessions/${encodeURIComponent(this.name)}/ops`, op);
      if (done) toast(done);
    } catch (e) {
      toast(e.message);
    }
  }

  controls() {
    const text = el("input", { type: "text", id: "message", placeholder: "Message to the agent (its next prompt)", maxlength: 8000 });
    const sendMessage = (ev) => {
      ev.preventDefault();
      const t = text.value.trim();
      if (!t) return;
      this.send({ op: "message", text: t }, "Message sent: the agent gets it in its next prompt");
      text.value = "";
    };
    this.pauseButton = el("button", { id: "pause", type: "button", onclick: () =>
      this.send({ op: this.paused ? "resume" : "pause" }) }, "Pause");
    return el("section", { class: "card controls", id: "controls" },
      el("form", { class: "controls", style: null, onsubmit: sendMessage },
        text, el("button", { class: "primary", id: "send", type: "submit" }, "Send")),
      this.pauseButton,
      el("button", { id: "stop", type: "button", onclick: () => this.send({ op: "stop" }, "Stop asked: the build ends after this iteration") }, "Stop after iteration"),
      el("button", { id: "stop-now", class: "danger", type: "button", onclick: () => {
        if (confirm("Stop the agent's turn now?")) this.send({ op: "stop", now: true }, "Stop asked: the turn ends now");
      } }, "Stop now"));
  }

  addTaskForm() {
    const content = el("input", { type: "text", id: "task-content", placeholder: "A task to add", maxlength: 4000 });
    const priority = el("select", { id: "task-priority", title: "priority (0 is the most urgent)" },
      [0, 1, 2, 3, 4].map((p) => el("option", { value: p, selected: p === 2 }, `P${p}`)));
    return el("form", { class: "controls", id: "add-task", onsubmit: (ev) => {
      ev.preventDefault();
      const c = content.value.trim();
      if (!c) return;
      this.send({ op: "add_task", content: c, priority: Number(priority.value) });
      content.value = "";
    } }, content, priority, el("button", { type: "submit" }, "Add task"));
  }

  update({ summary: s, state }) {
    this.state = state;
    this.paused = !!state.paused;
    if (this.pauseButton) this.pauseButton.textContent = this.paused ? "Resume" : "Pause";
    setProgress(this.bar, s.completed, s.total);
    if (s.last_activity_ms) this.lastActivity = s.last_activity_ms;
    fill(this.header, 
      el("strong", { text: this.name }),
      el("span", { class: "badge " + s.status, id: "status", text: s.status }),
      el("span", { id: "count", text: `${s.completed} of ${s.total} tasks completed` }),
      s.iteration ? el("span", { text: `iteration ${s.iteration}` }) : null,
      el("span", { class: "muted", text: usageText(s.tokens, s.cost, s.currency) }),
      this.lastActivity ? el("span", { class: "muted", text: `last activity ${clock(this.lastActivity)}` }) : null,
      state.stop ? el("span", { class: "badge stopping", text: `stop asked by ${state.stop.who}` }) : null,
      state.builder_text ? el("span", { class: "muted", text: `build: ${state.builder_text}` }) : null);
    this.workers.replaceChildren(...(s.workers.length ? [el("span", { class: "muted", text: "workers:" }),
      ...s.workers.map((w) => el("span", { class: "badge running", text: w }))] : []));
    this.drawRequests(state.permissions.waiting || {}, state.questions || []);
    this.drawBoard(state.columns);
    this.drawNotes(state.notes, state.notes_total);
    this.drawIterations(state.iterations, state.iterations_total);
    this.drawPlots(state.plots);
  }

  drawRequests(waiting, questions) {
    const items = Object.entries(waiting);
    // A question being answered keeps what the person typed: redrawn only when the set changes.
    const open = questions.filter((q) => !q.answer);
    const key = open.map((q) => q.id).join(",");
    if (key !== this.questionsKey) {
      this.questionsKey = key;
      this.questionBox = el("div", { id: "questions" }, open.map((q) => this.questionCard(q)));
    }
    this.requests.replaceChildren(this.questionBox, ...items.map(([id, w]) => el("div", { class: "request card", data: { request: id } },
      el("strong", { text: `P-${id}` }), " ", w.worker ? `[${w.worker}] ` : "",
      "the agent asks to run ", el("code", { text: [w.tool, w.title].filter(Boolean).join(": ") }),
      this.control ? el("div", { class: "controls" },
        el("button", { class: "primary approve", type: "button", onclick: () => this.send({ op: "approve", request: Number(id) }) }, "Allow once"),
        el("button", { class: "approve-always", type: "button", onclick: () => this.send({ op: "approve", request: Number(id), always: true }) }, "Allow always"),
        el("button", { class: "danger deny", type: "button", onclick: () => this.send({ op: "deny", request: Number(id) }) }, "Deny")) : null)));
  }

  questionCard(q) {
    const id = `Q-${q.id}`;
    const inputs = q.items.map((item, i) => {
      const name = `q${q.id}-${i}`;
      const picks = item.choices.map((c, n) => el("label", { class: "choice" },
        el("input", { type: item.multiple ? "checkbox" : "radio", name, value: c.label, data: { choice: n + 1 } }),
        " ", el("strong", { text: c.label }), c.description ? el("span", { class: "muted" }, " ", inline(c.description)) : null));
      const words = el("input", { type: "text", class: "answer-text", placeholder: item.choices.length ? "Or in your own words" : "Your answer", maxlength: 8000 });
      return { item, picks, words, node: el("div", { class: "question-item" },
        el("div", {}, el("strong", { text: item.header }), " ", inline(item.question)),
        item.choices.length ? el("div", { class: "choices" }, picks) : null, words) };
    });
    const send = (ev) => {
      ev.preventDefault();
      const answers = inputs.map(({ picks, words }) => ({
        chosen: picks.map((p) => p.querySelector("input")).filter((i) => i.checked).map((i) => i.value),
        text: words.value.trim(),
      }));
      this.send({ op: "answer", question: q.id, answers }, `${id} answered`);
    };
    return el("form", { class: "request card question", data: { question: q.id }, onsubmit: send },
      el("div", {}, el("strong", { text: id }), " ", q.worker ? `[${q.worker}] ` : "", "the agent asks:"),
      inputs.map((i) => i.node),
      this.control ? el("button", { class: "primary answer", type: "submit" }, "Answer") : null);
  }

  drawBoard(columns) {
    this.board.replaceChildren(...columns.map(({ status, total, tasks }) => el("div", { class: "column", data: { status } },
      el("h3", { text: `${status.replace("_", " ")} (${total})` }),
      tasks.map((t) => this.taskCard(t)),
      total > tasks.length ? el("p", { class: "muted", text: `${total - tasks.length} more not shown (iteratr status lists them all)` }) : null)));
  }

  taskCard(t) {
    const meta = el("div", { class: "meta" }, el("span", { text: t.id }));
    if (this.control) {
      meta.append(el("select", { class: "priority", title: "priority", onchange: (e) =>
        this.send({ op: "set_priority", task: t.id, priority: Number(e.target.value) }) },
        [0, 1, 2, 3, 4].map((p) => el("option", { value: p, selected: p === t.priority }, `P${p}`))));
      meta.append(el("select", { class: "status", title: "status", onchange: (e) =>
        this.send({ op: "set_status", task: t.id, status: e.target.value }) },
        STATUSES.map((s) => el("option", { value: s, selected: s === t.status }, s.replace("_", " ")))));
    } else {
      meta.append(el("span", { text: `P${t.priority}` }));
    }
    if (t.depends_on.length) meta.append(el("span", { text: `after ${t.depends_on.join(", ")}` }));
    if (t.claim) meta.append(el("span", { class: "badge running", text: t.claim.worker }));
    if (t.usage) meta.append(el("span", { class: "usage", title: "its share of the tokens and cost of the iterations that worked on it", text: usageText((t.usage.input_tokens || 0) + (t.usage.output_tokens || 0), t.usage.cost, t.usage.currency) }));
    if (t.integrated) meta.append(this.commitLink(t.integrated, "integrated"));
    else if (t.commit) meta.append(this.commitLink(t.commit, "commit"));
    return el("div", { class: "task", data: { status: t.status, task: t.id } }, el("div", { text: t.content }), meta);
  }

  commitLink(hash, label) {
    return el("button", { type: "button", class: "commit", title: hash, onclick: () => this.showCommit(hash) },
      `${label ? label + " " : ""}${hash.slice(0, 8)}`);
  }

  async showCommit(hash) {
    this.diff.replaceChildren(el("p", { class: "muted", text: `commit ${hash}…` }));
    try {
      const d = await api(`/api/sessions/${encodeURIComponent(this.name)}/commits/${hash}`);
      this.diff.replaceChildren(el("h3", { text: `commit ${hash.slice(0, 12)}` }),
        d.available ? diffBlock(d.text) : el("p", { class: "muted", text: `${hash}: ${d.reason}` }));
      this.diff.scrollIntoView({ block: "nearest" });
    } catch (e) {
      this.diff.replaceChildren(el("p", { text: e.message }));
    }
  }

  drawNotes(notes, total) {
    const byType = new Map();
    for (const n of notes) byType.set(n.type, [...(byType.get(n.type) || []), n]);
    fill(this.notes, ...(notes.length ? [...byType].flatMap(([type, list]) => [
      el("h3", { text: type }),
      ...list.map((n) => el("div", { data: { note: n.id } }, el("span", { class: "muted", text: n.id + " " }), n.content)),
    ]) : [el("p", { class: "muted", text: "No notes yet." })]),
    total > notes.length ? el("p", { class: "muted", text: `the latest ${notes.length} of ${total} notes` }) : null);
  }

  drawIterations(iterations, total) {
    const rows = iterations.slice(-30).reverse().map((it) => el("tr", { data: { iteration: it.number } },
      el("td", { text: `${it.number}${it.planning ? " (plan)" : ""}` }),
      el("td", { text: it.worker || "" }),
      el("td", { text: it.outcome ? String(it.outcome.kind || it.outcome) : (it.started_at_ms ? "running" : "") }),
      el("td", { text: it.finished_at_ms ? duration(it.finished_at_ms - it.started_at_ms) : "" }),
      el("td", { text: it.usage ? usageText((it.usage.input_tokens || 0) + (it.usage.output_tokens || 0), it.usage.cost, it.usage.currency) : "" }),
      el("td", {}, it.commit ? this.commitLink(it.commit) : "")));
    fill(this.iterations, el("table", {},
      el("thead", {}, el("tr", {}, ["#", "worker", "outcome", "took", "usage", "commit"].map((h) => el("th", { text: h })))),
      el("tbody", {}, rows)),
      total > rows.length ? el("p", { class: "muted", text: `the latest ${rows.length} of ${total} iterations` }) : null);
  }

  drawPlots(plots) {
    const hhmm = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    this.plots.replaceChildren(
      el("figure", {}, el("figcaption", { class: "muted", text: "tasks completed over time" }),
        chart(plots.completed, { label: "tasks completed over time", fmtX: hhmm })),
      el("figure", {}, el("figcaption", { class: "muted", text: "tokens per iteration" }),
        chart(plots.tokens, { kind: "bar", label: "tokens per iteration", fmtX: (n) => `#${n}` })),
      el("figure", {}, el("figcaption", { class: "muted", text: "iteration durations (s)" }),
        chart(plots.durations, { kind: "bar", label: "iteration durations in seconds", fmtX: (n) => `#${n}`, fmtY: (s) => s.toFixed(s < 10 ? 1 : 0) })));
  }

  logEvent(e, initial) {
    seen.log.push(e.seq);
    if (e.event.event.type === "hook_ran") this.hookRan(e.event.event);
    if (!e.told) return;
    const line = el("div", { class: e.told.tone, data: { seq: e.seq } },
      el("span", { class: "muted", text: clock(e.event.at_ms) + " " }),
      e.told.tone === "text" ? markdown(e.told.text) : e.told.text);
    this.activity.prepend(line);
    while (this.activity.childElementCount > 500) this.activity.lastChild.remove();
    if (!initial) this.lastActivity = e.event.at_ms;
  }

  hookRan(h) {
    const ok = h.exit_code === 0;
    this.hooks.prepend(el("details", { class: ok ? "" : "warning" },
      el("summary", {}, `${h.point} `, el("code", { text: h.command }), `: ${h.result}`),
      h.output ? el("pre", { text: h.output }) : null));
    while (this.hooks.childElementCount > 50) this.hooks.lastChild.remove();
  }

  // --- the agent's output, one pane per worker ---

  pane(worker) {
    const key = worker || "agent";
    let p = this.panes.get(key);
    if (!p) {
      p = { box: el("div", { class: "pane", data: { worker: key } }), text: null, tools: new Map(), iteration: null };
      this.panes.set(key, p);
      const tab = el("button", { type: "button", data: { worker: key }, onclick: () => this.show(key) }, key);
      this.tabs.append(tab);
      if (!this.worker) this.show(key);
    }
    return p;
  }

  show(key) {
    this.worker = key;
    for (const b of this.tabs.children) b.classList.toggle("on", b.dataset.worker === key);
    this.outputBox.replaceChildren(this.panes.get(key).box);
  }

  output(o) {
    seen.output.push(o.seq);
    if (o.unreadable) { this.pane(null).box.append(el("div", { class: "line", text: `an output record is unreadable and was skipped: ${o.unreadable}` })); return; }
    const r = o.record;
    const p = this.pane(r.worker);
    const stick = this.outputBox.scrollTop + this.outputBox.clientHeight >= this.outputBox.scrollHeight - 40;
    if (r.iteration != null && r.iteration !== p.iteration) {
      p.iteration = r.iteration;
      p.text = null;
      p.box.append(el("div", { class: "divider", text: `iteration ${r.iteration}` }));
    }
    const u = r.update;
    switch (u.type) {
      case "text": this.text(p, u.text); break;
      case "thought": {
        p.text = null;
        const last = p.box.lastChild;
        if (last && last.classList?.contains("thought")) last.querySelector("div").append(u.text);
        else p.box.append(el("details", { class: "thought" }, el("summary", { text: "thinking" }), el("div", { text: u.text })));
        break;
      }
      case "tool_call": {
        p.text = null;
        const status = el("span", { class: "tool-status " + u.status, text: u.status.replace("_", " ") });
        const body = el("div", {});
        if (u.input) body.append(el("pre", { text: JSON.stringify(u.input, null, 2) }));
        const node = el("details", { class: "tool", data: { tool: u.id } }, el("summary", {}, u.kind && u.kind !== "other" ? `${u.kind} · ` : "", u.title, " ", status), body);
        p.tools.set(u.id, { node, status, body });
        p.box.append(node);
        break;
      }
      case "tool_update": {
        const t = p.tools.get(u.id);
        if (!t) break;
        if (u.status) { t.status.textContent = u.status.replace("_", " "); t.status.className = "tool-status " + u.status; }
        if (u.output) t.body.append(el("pre", { text: u.output }));
        for (const d of u.diffs || []) t.body.append(fileChange(d.path, d.old, d.new));
        break;
      }
      case "plan":
        p.text = null;
        p.box.append(el("ul", { class: "plan" }, u.entries.map((e) => el("li", { text: `[${e.status}] ${e.content}` }))));
        break;
      case "permission_asked":
        p.text = null;
        p.box.append(el("div", { class: "line", text: `asks permission: ${u.title} (answer it above)` }));
        break;
      case "permission":
        p.box.append(el("div", { class: "line", text: `permission: ${u.title || u.tool} → ${u.decision}` }));
        break;
      case "file":
        p.box.append(el("div", { class: "line", text: `${u.op} ${u.path}${u.allowed ? "" : " (refused)"}` }));
        break;
      case "exited":
        p.text = null;
        p.box.append(el("div", { class: "line", text: `the agent exited (${typeof u.status === "string" ? u.status : JSON.stringify(u.status)})` }));
        break;
      default: break;
    }
    while (p.box.childElementCount > OUTPUT_KEPT) p.box.firstChild.remove();
    if (stick) this.outputBox.scrollTop = this.outputBox.scrollHeight;
  }

  text(p, chunk) {
    if (!p.text) {
      p.text = el("div", { class: "text" });
      p.text.body = "";
      p.box.append(p.text);
    }
    const node = p.text;
    node.body += chunk;
    // Rendered at once, then at most every 50 ms however many chunks come.
    if (!node.pending) {
      node.pending = true;
      const wait = Math.max(0, 50 - (performance.now() - (node.renderedAt || -1e9)));
      setTimeout(() => {
        node.pending = false;
        node.renderedAt = performance.now();
        node.replaceChildren(markdown(node.body));
      }, wait);
    }
  }
}
