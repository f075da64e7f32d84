"""The session as MCP resources and the `iteration` prompt, through the official Python SDK.

Usage:
  mcp_resources_client.py ITERATR_BINARY DATA_DIR SESSION SPEC (legacy|modern) [URL TOKEN]

Without URL the client runs `iteratr mcp serve` on stdio; with URL it connects to that streamable
HTTP server (serving the same data dir) with the bearer token.

`legacy` negotiates a pre-2026 protocol version and follows the tasks with `resources/subscribe`;
`modern` uses a `subscriptions/listen` stream (2026-07-28). Either way, another process (a second
`iteratr mcp serve`) adds a task, and the update must arrive. Prints one JSON summary line; exits
non-zero on any mismatch.
"""

import asyncio
import json
import sys
import warnings

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

PATIENCE = 30
# resources/subscribe is deprecated for 2026-07-28 clients; the legacy mode tests it on purpose.
warnings.filterwarnings("ignore", message="resources/subscribe is removed")


def server(binary, data_dir, session, spec):
    return StdioServerParameters(
        command=binary,
        args=["--data-dir", data_dir, "mcp", "serve", "--session", session, "--spec", spec],
    )


def text_of(contents):
    return "\n".join(c.text for c in contents.contents)


async def add_task_from_another_process(params, content):
    async with Client(params) as other:
        added = await other.call_tool("task-add", {"content": content})
        assert not added.is_error, added


def updated_uri(message):
    message = getattr(message, "root", message)
    if getattr(message, "method", None) == "notifications/resources/updated":
        return message.params.uri
    return None


async def main():
    binary, data_dir, session, spec, mode = sys.argv[1:6]
    params = server(binary, data_dir, session, spec)
    if len(sys.argv) > 6:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {sys.argv[7]}"}) as http:
            return await exercise(streamable_http_client(sys.argv[6], http_client=http), params, session, spec, mode)
    return await exercise(params, params, session, spec, mode)


async def exercise(target, params, session, spec, mode):
    tasks_uri = f"iteratr://sessions/{session}/tasks"
    updates = asyncio.Queue()

    async def on_message(message):
        uri = updated_uri(message)
        if uri is not None:
            await updates.put(uri)

    options = {"mode": "legacy", "message_handler": on_message} if mode == "legacy" else {}
    async with Client(target, **options) as client:
        added = await client.call_tool("task-add", {"content": "Write the parser", "priority": 3})
        assert not added.is_error, added

        listed = await client.list_resources()
        uris = {r.uri for r in listed.resources}
        for part in ["tasks", "notes", "iterations", "spec"]:
            for suffix in ["", ".md"]:
                assert f"iteratr://sessions/{session}/{part}{suffix}" in uris, sorted(uris)
        mime = {r.uri: r.mime_type for r in listed.resources}
        assert mime[tasks_uri] == "application/json", mime
        assert mime[tasks_uri + ".md"] == "text/markdown", mime
        templates = await client.list_resource_templates()
        template_uris = {t.uri_template for t in templates.resource_templates}
        assert "iteratr://sessions/{name}/tasks" in template_uris, template_uris

        tasks = json.loads(text_of(await client.read_resource(tasks_uri)))
        assert [t["content"] for t in tasks["tasks"]] == ["Write the parser"], tasks
        markdown = text_of(await client.read_resource(tasks_uri + ".md"))
        assert "TAS-1 [p3] Write the parser" in markdown, markdown
        spec_text = text_of(await client.read_resource(f"iteratr://sessions/{session}/spec.md"))
        assert spec_text == open(spec).read(), spec_text

        # Follow the tasks; another process adds one; the update arrives.
        if mode == "legacy":
            await client.subscribe_resource(tasks_uri)
            await add_task_from_another_process(params, "Added by another process")
            uri = await asyncio.wait_for(updates.get(), PATIENCE)
        else:
            async with client.listen(resource_subscriptions=[tasks_uri]) as sub:
                assert sub.honored.resource_subscriptions == [tasks_uri], sub.honored
                await add_task_from_another_process(params, "Added by another process")
                event = await asyncio.wait_for(anext(aiter(sub)), PATIENCE)
                uri = event.uri
        assert uri == tasks_uri, uri
        tasks = json.loads(text_of(await client.read_resource(tasks_uri)))
        contents = [t["content"] for t in tasks["tasks"]]
        assert contents == ["Write the parser", "Added by another process"], contents

        # The prompt of the next iteration, with the session's tasks.
        prompts = await client.list_prompts()
        assert [p.name for p in prompts.prompts] == ["iteration"], prompts
        prompt = await client.get_prompt("iteration", {"session": session})
        text = prompt.messages[0].content.text
        for expected in [
            f"## Now: iteratr session {session}, iteration 0\n",
            "TAS-2 [p2] Added by another process",
            spec_text.strip(),
            "This is the planning iteration",
        ]:
            assert expected in text, f"{expected!r} not in:\n{text}"

    print(json.dumps({"mode": mode, "updated": uri, "resources": len(uris), "prompt_chars": len(text)}))


asyncio.run(main())
