"""An independent MCP client (the official Python SDK) against `iteratr mcp serve`.

Usage:
  mcp_sdk_client.py http URL TOKEN
  mcp_sdk_client.py stdio ITERATR_BINARY DATA_DIR SESSION

Lists the tools, calls task-add, task-list and note-add (and one refused call), checks the
answers and prints one JSON summary line. Exits non-zero on any mismatch.
"""

import asyncio
import json
import sys

from mcp import Client, StdioServerParameters

EXPECTED_TOOLS = {
    "task-add", "task-batch-add", "task-status", "task-priority", "task-depends", "task-list",
    "task-next", "note-add", "note-list", "iteration-summary", "session-complete", "ask-questions",
}


def text_of(result):
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


async def exercise(client):
    tools = await client.list_tools()
    names = {t.name for t in tools.tools}
    assert names == EXPECTED_TOOLS, f"tools: {sorted(names)}"
    add_schema = next(t for t in tools.tools if t.name == "task-add").input_schema
    assert add_schema["required"] == ["content"], add_schema
    assert add_schema["properties"]["priority"]["maximum"] == 4, add_schema

    added = await client.call_tool("task-add", {"content": "Written by the Python SDK", "priority": 3})
    assert not added.is_error, text_of(added)
    assert text_of(added).startswith("Added TAS-"), text_of(added)
    task_id = added.structured_content["id"]

    listed = await client.call_tool("task-list", {})
    assert not listed.is_error, text_of(listed)
    assert f"{task_id} [p3] Written by the Python SDK" in text_of(listed), text_of(listed)

    note = await client.call_tool("note-add", {"type": "learning", "content": "The SDK works"})
    assert not note.is_error, text_of(note)
    assert text_of(note).startswith("Added NOT-"), text_of(note)

    refused = await client.call_tool("task-priority", {"id": task_id, "priority": 9})
    assert refused.is_error, text_of(refused)
    assert "outside 0-4" in text_of(refused), text_of(refused)

    return {"tools": len(names), "task": task_id, "note": note.structured_content["id"]}


async def main():
    mode = sys.argv[1]
    if mode == "http":
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        url, token = sys.argv[2], sys.argv[3]
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
        async with http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                summary = await exercise(client)
    elif mode == "stdio":
        binary, data_dir, session = sys.argv[2], sys.argv[3], sys.argv[4]
        params = StdioServerParameters(
            command=binary,
            args=["--data-dir", data_dir, "mcp", "serve", "--session", session],
        )
        async with Client(params) as client:
            summary = await exercise(client)
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(summary))


asyncio.run(main())
