// The official TypeScript MCP SDK client, as opencode uses it: Streamable HTTP, one keep-alive
// connection per client. Usage: node ts_client.mjs URL TOKEN CLIENTS CALLS
// Prints {"task-add": [ms, ...], ...}: every call's latency, all clients together.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, clients, calls] = process.argv.slice(2);
const TOOLS = ["task-add", "task-next", "task-list", "note-add"];

function args(tool, i) {
  switch (tool) {
    case "task-add": return { content: `ts task ${i} ${process.pid} ${Date.now()}` };
    case "task-list": return { status: "remaining" };
    case "note-add": return { type: "learning", content: `ts note ${i}` };
    default: return {};
  }
}

async function one(c) {
  const client = new Client({ name: "bench", version: "1" });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  const out = {};
  for (const tool of TOOLS) {
    out[tool] = [];
    for (let i = 0; i < Number(calls); i++) {
      const started = process.hrtime.bigint();
      const r = await client.callTool({ name: tool, arguments: args(tool, c * Number(calls) + i) });
      out[tool].push(Number(process.hrtime.bigint() - started) / 1e6);
      if (r.isError) throw new Error(`${tool}: ${JSON.stringify(r.content)}`);
    }
  }
  await client.close();
  return out;
}

const results = await Promise.all(Array.from({ length: Number(clients) }, (_, c) => one(c)));
const all = {};
for (const tool of TOOLS) all[tool] = results.flatMap((r) => r[tool]);
process.stdout.write(JSON.stringify(all));
