"""The dev fake of Anthropic speaks tool use, so `julia dev` shows a reservation end to end."""

from __future__ import annotations

import httpx

from julia.testing.app import criar_app
from julia.worker import ferramentas


async def test_o_claude_falso_pede_reservar_vaga_e_responde_aos_resultados() -> None:
    app = criar_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://f") as c:
        corpo = {"model": "m", "messages": [{"role": "user", "content": "Quero a vaga 12"}]}
        sem_tools = (await c.post("/v1/messages", json=corpo)).json()
        com_tools = (await c.post("/v1/messages", json={**corpo, "tools": ferramentas.definicoes()})).json()
        uso = com_tools["content"][0]
        resultado = {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": uso["id"], "content": '{"reservada": true}'}],
        }
        depois = (
            await c.post(
                "/v1/messages",
                json={
                    **corpo,
                    "messages": [*corpo["messages"], {"role": "assistant", "content": [uso]}, resultado],
                },
            )
        ).json()
    assert sem_tools["stop_reason"] == "end_turn"
    assert (com_tools["stop_reason"], uso["name"], uso["input"]) == (
        "tool_use",
        "reservar_vaga",
        {"vaga_id": 12},
    )
    assert depois["content"][0]["text"] == '(Júlia de teste) Resultado: {"reservada": true}'
