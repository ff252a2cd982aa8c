"""The ``anthropic`` provider: Anthropic's Messages API with image input."""

from __future__ import annotations

from typing import Any

import httpx

from ..processing import StepError
from .base import DescribeInput, Description
from .llm import SYSTEM_PROMPT, description_of, model_client, post_json, prepare

__all__ = ["AnthropicProvider"]

API_VERSION = "2023-06-01"


def _text_of(answer: dict[str, Any]) -> str:
    if answer.get("stop_reason") == "refusal":
        raise StepError("the model declined to describe this file", "validation", step="anthropic")
    blocks = answer.get("content")
    if not isinstance(blocks, list):
        raise StepError("anthropic answered without content", "vlm_error", step="anthropic")
    return "".join(
        str(block.get("text", ""))
        for block in blocks
        if isinstance(block, dict) and block.get("type") == "text"
    )


class AnthropicProvider:
    name = "anthropic"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str,
        timeout: float,
        max_tokens: int,
        image_side: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + "/v1/messages"
        self._model = model
        self._headers = {"x-api-key": api_key, "anthropic-version": API_VERSION}
        self._max_tokens = max_tokens
        self._image_side = image_side
        self._client = model_client(timeout, transport)

    async def describe(self, item: DescribeInput) -> Description:
        prompt, image = await prepare(item, self._image_side)
        content: list[dict[str, Any]] = []
        if image is not None:
            content.append(
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/jpeg", "data": image},
                }
            )
        content.append({"type": "text", "text": prompt})
        body = {
            "model": self._model,
            "max_tokens": self._max_tokens,
            "system": SYSTEM_PROMPT,
            "messages": [{"role": "user", "content": content}],
        }
        answer = await post_json(
            self._client, self._url, body, headers=self._headers, provider=self.name
        )
        return description_of(_text_of(answer), provider=self.name)

    async def aclose(self) -> None:
        await self._client.aclose()
