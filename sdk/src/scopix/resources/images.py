"""``client.images``: analyze one image in a single call."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .._exceptions import DescriptionError, ScopixTimeoutError
from .._files import FileInput, source_of
from .._responses import parse
from ..types.describe import DescriptionResult
from ..types.enums import DescriptionStatus
from ..types.files import UserFileDetails

if TYPE_CHECKING:
    from .._base_client import HTTPCore

__all__ = ["Images"]

MAX_WAIT = 300.0  # the server waits at most this long


class Images:
    """Reached as ``client.images``."""

    def __init__(self, core: HTTPCore) -> None:
        self._core = core

    async def analyze(
        self,
        file: FileInput | None = None,
        *,
        url: str | None = None,
        filename: str | None = None,
        content_category: str = "general",
        skip_duplicates: bool = False,
        timeout: float = 30.0,
    ) -> DescriptionResult:
        """Upload an image (or have the server fetch ``url``) and wait for its description.

        Args:
            file: a path, ``bytes`` or a binary file object; or leave it out and pass ``url``.
            url: a public ``http(s)`` URL of the image, fetched by the server.
            filename: the name to record (default: the file's own name).
            content_category: steers the description; ``"auto"`` lets the describer decide.
            skip_duplicates: reuse the tenant's existing file with the same bytes.
            timeout: how long the server waits for the description, in seconds (at most 300).

        Returns the description with its tags, key elements, OCR text and text regions
        (``operation_id`` is the new file's id; ``metadata`` has the file's details).

        Raises:
            ScopixTimeoutError: the description was not ready within ``timeout``;
                ``last_result`` holds the file's details so far (keep polling its id).
            DescriptionError: the description failed; ``details`` say whether a retry can help.
            ValidationError, ScopixError: the server refused the input.
        """
        if (file is None) == (url is None):
            raise ValueError("pass exactly one of file and url")
        if not 0 <= timeout <= MAX_WAIT:
            raise ValueError(f"timeout must be from 0 to {MAX_WAIT:g} seconds; got {timeout}")
        # the HTTP request must outlive the server's wait
        request_timeout = max(self._core.config.timeout, timeout + 60.0)
        started = time.monotonic()
        if url is not None:
            body: dict[str, Any] = {
                "url": url,
                "content_category": content_category,
                "skip_duplicates": skip_duplicates,
                "timeout": timeout,
            }
            if filename is not None:
                body["filename"] = filename
            response = await self._core.request(
                "POST", "/images/analyze", json=body, timeout=request_timeout
            )
        else:
            assert file is not None
            source = source_of(file, filename)
            fields = {
                "content_category": content_category,
                "skip_duplicates": "true" if skip_duplicates else "false",
                "timeout": f"{timeout:g}",
            }
            with source.open() as stream:
                response = await self._core.request(
                    "POST",
                    "/images/analyze",
                    files={"file": (source.filename, stream)},
                    data=fields,
                    timeout=request_timeout,
                )
        elapsed_ms = int((time.monotonic() - started) * 1000)
        details = parse(response, UserFileDetails.from_api_response)
        if response.status_code == 202 or not details.description_status.is_terminal:
            raise ScopixTimeoutError(
                f"the description of {details.id} was not ready within {timeout:g} s; poll "
                f"client.files.wait_for_description({details.id!r})",
                last_result=details,
            )
        if details.description_status is not DescriptionStatus.COMPLETED or not details.description:
            raise DescriptionError(
                details.description_error
                or f"the image was not described ({details.description_status.value})",
                image_id=details.id,
                status=details.description_status.value,
                details={
                    "error_type": details.description_error_type,
                    "retryable": details.description_is_retryable,
                },
            )
        return parse(
            response,
            lambda data: DescriptionResult.from_api_response(
                {
                    **data,
                    "operation_id": details.id,
                    "processing_time_ms": elapsed_ms,
                    "metadata": details.to_dict(),
                }
            ),
        )
