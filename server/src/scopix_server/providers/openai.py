"""The ``openai`` provider: any OpenAI-compatible chat-completions endpoint with image input.

That is OpenAI itself and the local servers that speak its protocol: Ollama, vLLM, llama.cpp's
server and LM Studio (``SCOPIX_SERVER_OPENAI_BASE_URL`` ends in ``/v1`` for all of them).
"""

from __future__ import annotations

from typing import Any

import httpx

from ..processing import StepError
from .base import DescribeInput, Description
from .llm import SYSTEM_PROMPT, description_of, model_client, post_json, prepare

__all__ = ["OpenAIProvider"]


def _text_of(answer: dict[str, Any]) -> str:
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise StepError("openai answered without choices", "vlm_error", step="openai")
    choice = choices[0]
    raw = choice.get("message")
    message: dict[str, Any] = raw if isinstance(raw, dict) else {}
    content = message.get("content")
    if isinstance(content, list):  # some servers answer in content parts
        content = "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    if not content:
        refusal = message.get("refusal")
        if refusal or choice.get("finish_reason") == "content_filter":
            raise StepError(
                f"the model declined to describe this file: {refusal or 'content filter'}",
                "validation",
                step="openai",
            )
    return content if isinstance(content, str) else ""


class OpenAIProvider:
    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None,
        timeout: float,
        max_tokens: int,
        image_side: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._max_tokens = max_tokens
        self._image_side = image_side
        self._client = model_client(timeout, transport)

    async def describe(self, item: DescribeInput) -> Description:
        prompt, image = await prepare(item, self._image_side)
        content: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
        if image is not None:
            content.append(
                {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{image}"}}
            )
        body = {
            "model": self._model,
            "max_tokens": self._max_tokens,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": content},
            ],
        }
        answer = await post_json(
            self._client, self._url, body, headers=self._headers, provider=self.name
        )
        return description_of(_text_of(answer), provider=self.name)

    async def aclose(self) -> None:
        await self._client.aclose()
