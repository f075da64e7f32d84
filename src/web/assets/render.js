// Building the page from untrusted text without ever parsing it as HTML: every string becomes a
// text node, elements are made one by one, and links keep only http(s) addresses. What the agent
// writes (Markdown, diffs) and what the log holds can therefore never run or load anything.

/** An element: `attrs` sets properties (class, title, ...), `on*` listeners, `data` a dataset. */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "data") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "href") {
      // The page's own routes (#/...) as they are; any other address only when http(s).
      const h = String(value).startsWith("#/") ? String(value) : safeHref(value);
      if (h) node.setAttribute("href", h);
    }
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

/** Replaces what `node` holds with `children` (null and false left out). */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** The address if it is an absolute http(s) one, else null (javascript:, data:, relative...). */
export function safeHref(url) {
  try {
    const parsed = new URL(String(url));
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

/** A link that opens elsewhere and tells the target nothing; plain text when not http(s). */
export function link(url, text) {
  const href = safeHref(url);
  if (!href) return document.createTextNode(text);
  return el("a", { href, target: "_blank", rel: "noopener noreferrer" }, text);
}

const INLINE = /(`+)([^`]+?)\1|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*\s][^*]*)\*|\[([^\]]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>()]+)/g;

/** Inline Markdown: code, bold, emphasis, links and bare http(s) addresses. */
export function inline(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[2] !== undefined) out.push(el("code", { text: m[2] }));
    else if (m[3] !== undefined || m[4] !== undefined) out.push(el("strong", {}, inline(m[3] ?? m[4])));
    else if (m[5] !== undefined) out.push(el("em", {}, inline(m[5])));
    else if (m[6] !== undefined) out.push(link(m[7], m[6]));
    else out.push(link(m[8], m[8]));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** Markdown to elements: headings, paragraphs, lists, quotes, rules, fenced code. Raw HTML stays text. */
export function markdown(text) {
  const root = document.createDocumentFragment();
  const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
  let para = [];
  let list = null;
  const flush = () => {
    if (para.length) root.append(el("p", {}, inline(para.join(" "))));
    para = [];
  };
  const endList = () => { list = null; };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = line.match(/^\s*(```+|~~~+)\s*([\w+-]*)/);
    if (fence) {
      flush(); endList();
      const body = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(fence[1]); i++) body.push(lines[i]);
      const code = el("code", { text: body.join("\n") });
      if (fence[2]) code.dataset.lang = fence[2];
      root.append(fence[2] === "diff" ? diffBlock(body.join("\n")) : el("pre", {}, code));
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      flush(); endList();
      root.append(el("h" + Math.min(6, heading[1].length + 2), {}, inline(heading[2])));
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) { flush(); endList(); root.append(el("hr")); continue; }
    const item = line.match(/^\s*([-*+]|\d+[.)])\s+(.*)$/);
    if (item) {
      flush();
      const ordered = /\d/.test(item[1]);
      if (!list || (list.tagName === "OL") !== ordered) {
        list = el(ordered ? "ol" : "ul");
        root.append(list);
      }
      const box = item[2].match(/^\[( |x|X)\]\s+(.*)$/);
      list.append(box
        ? el("li", {}, el("input", { type: "checkbox", disabled: true, checked: box[1] !== " " }), " ", inline(box[2]))
        : el("li", {}, inline(item[2])));
      continue;
    }
    const quote = line.match(/^\s*>\s?(.*)$/);
    if (quote) { flush(); endList(); root.append(el("blockquote", {}, inline(quote[1]))); continue; }
    if (!line.trim()) { flush(); endList(); continue; }
    if (list && /^\s{2,}/.test(line)) { list.lastChild?.append(" ", ...inline(line.trim())); continue; }
    endList();
    para.push(line.trim());
  }
  flush();
  return root;
}

/** A unified diff (or `git show`) with its lines coloured by what they are. */
export function diffBlock(text) {
  const pre = el("pre", { class: "diff" });
  for (const line of String(text).split("\n")) {
    let cls = "";
    if (line.startsWith("+++") || line.startsWith("---") || line.startsWith("diff ") || line.startsWith("index ")) cls = "meta";
    else if (line.startsWith("+")) cls = "add";
    else if (line.startsWith("-")) cls = "del";
    else if (line.startsWith("@@")) cls = "hunk";
    pre.append(el("span", { class: cls || null, text: line || " " }), cls ? "" : "\n");
  }
  return pre;
}

/** A file change the agent made: the lines around the change, removed and added. */
export function fileChange(path, before, after) {
  const old = before == null ? [] : String(before).split("\n");
  const now = String(after ?? "").split("\n");
  let head = 0;
  while (head < old.length && head < now.length && old[head] === now[head]) head++;
  let tail = 0;
  while (tail < old.length - head && tail < now.length - head &&
         old[old.length - 1 - tail] === now[now.length - 1 - tail]) tail++;
  const lines = [`--- ${path}`, `+++ ${path}`, `@@ line ${head + 1} @@`];
  for (const l of old.slice(head, old.length - tail)) lines.push("-" + l);
  for (const l of now.slice(head, now.length - tail)) lines.push("+" + l);
  return diffBlock(lines.join("\n"));
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * A small chart: `points` as [x, y]; `kind` "line" (steps, for counts over time) or "bar".
 * `label` names it for screen readers and the title; `fmtX`/`fmtY` write the axis ends.
 */
export function chart(points, { kind = "line", label = "", fmtX = String, fmtY = String } = {}) {
  const W = 300, H = 120, L = 34, B = 16;
  const root = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H + B}`, role: "img", "aria-label": label });
  root.append(svg("title", {}, label));
  root.append(svg("line", { class: "axis", x1: L, y1: H, x2: W, y2: H }));
  root.append(svg("line", { class: "axis", x1: L, y1: 0, x2: L, y2: H }));
  if (!points.length) {
    root.append(svg("text", { x: L + 8, y: H / 2 }, "nothing yet"));
    return root;
  }
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y1 = Math.max(...ys) || 1;
  const sx = (x) => L + (x1 === x0 ? (W - L) / 2 : ((x - x0) / (x1 - x0)) * (W - L - 4));
  const sy = (y) => H - (y / y1) * (H - 6);
  if (kind === "bar") {
    const w = Math.max(2, (W - L) / points.length - 2);
    points.forEach(([, y], i) => root.append(svg("rect", {
      class: "bar", x: L + 2 + i * ((W - L) / points.length), y: sy(y), width: w, height: H - sy(y),
    })));
  } else {
    let d = `M ${sx(points[0][0])} ${sy(points[0][1])}`;
    for (const [x, y] of points.slice(1)) d += ` H ${sx(x)} V ${sy(y)}`;
    root.append(svg("path", { class: "series", d }));
    for (const [x, y] of points) root.append(svg("circle", { class: "dot", cx: sx(x), cy: sy(y), r: 2.5 }));
  }
  root.append(svg("text", { x: 2, y: 10 }, fmtY(y1)));
  root.append(svg("text", { x: 2, y: H }, fmtY(0)));
  root.append(svg("text", { x: L, y: H + 12 }, fmtX(x0)));
  root.append(svg("text", { x: W - 2, y: H + 12, "text-anchor": "end" }, fmtX(x1)));
  return root;
}

/** "3.2s", "4m 10s", "2h 5m". */
export function duration(ms) {
  if (ms == null || ms < 0) return "";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(ms < 10000 ? 1 : 0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** "12:04:05" today, else the date too. */
export function clock(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

/** Tokens and cost: "12.3k tokens · $0.42". */
export function usageText(tokens, cost, currency) {
  const parts = [];
  if (tokens) parts.push(tokens >= 1000 ? `${(tokens / 1000).toFixed(1)}k tokens` : `${tokens} tokens`);
  if (cost != null) parts.push(currency && currency !== "USD" ? `${cost.toFixed(2)} ${currency}` : `$${cost.toFixed(2)}`);
  return parts.join(" · ");
}
