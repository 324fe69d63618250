"""The dev fake of Anthropic speaks tool use, so `julia dev` shows a reservation end to end."""

from __future__ import annotations

import httpx

from julia.testing.app import make_app
from julia.worker import tools


async def test_the_fake_claude_asks_reservar_vaga_and_answers_the_results() -> None:
    app = make_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://f") as c:
        corpo = {"model": "m", "messages": [{"role": "user", "content": "Quero a vaga 12"}]}
        without_tools = (await c.post("/v1/messages", json=corpo)).json()
        com_tools = (await c.post("/v1/messages", json={**corpo, "tools": tools.definitions()})).json()
        usage = com_tools["content"][0]
        resultado = {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": usage["id"], "content": '{"reservada": true}'}
            ],
        }
        depois = (
            await c.post(
                "/v1/messages",
                json={
                    **corpo,
                    "messages": [*corpo["messages"], {"role": "assistant", "content": [usage]}, resultado],
                },
            )
        ).json()
    assert without_tools["stop_reason"] == "end_turn"
    assert (com_tools["stop_reason"], usage["name"], usage["input"]) == (
        "tool_use",
        "reservar_vaga",
        {"vaga_id": 12},
    )
    assert depois["content"][0]["text"] == '(Júlia de teste) Resultado: {"reservada": true}'
