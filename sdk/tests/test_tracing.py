"""OpenTelemetry: one client span per logical request and W3C traceparent on every attempt."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import scopix
from scopix import ClientConfig, Scopix, ServerError, SyncScopix
from sdk_support import BASE_URL, VALID_KEY, Recorder, error_body, json_response

_EXPORTER = InMemorySpanExporter()
_PROVIDER = TracerProvider()
_PROVIDER.add_span_processor(SimpleSpanProcessor(_EXPORTER))


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(_PROVIDER)  # once per process: OpenTelemetry allows no reset
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def flaky_then_ok(failures: int):
    answers = iter([json_response(503, error_body("SERVICE_UNAVAILABLE", "x"))] * failures)
    return lambda request: next(answers, json_response(200, {}))


@pytest.mark.anyio
async def test_one_span_for_a_request_and_its_retries(
    spans: InMemorySpanExporter, make_client, recorder: Recorder
) -> None:
    async with make_client(flaky_then_ok(2), enable_tracing=True) as client:
        await client.request("GET", "/files")
    (span,) = spans.get_finished_spans()
    assert span.name == "HTTP GET"
    assert span.kind is SpanKind.CLIENT
    assert span.attributes["http.request.method"] == "GET"
    assert span.attributes["url.full"] == f"{BASE_URL}/files"
    assert span.attributes["server.address"] == "api.test"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["scopix.attempts"] == 3
    assert span.instrumentation_scope.name == "scopix-sdk"
    # every attempt carries the span's context
    trace_id = format(span.context.trace_id, "032x")
    span_id = format(span.context.span_id, "016x")
    for request in recorder.requests:
        assert request.headers["traceparent"].startswith(f"00-{trace_id}-{span_id}-")


@pytest.mark.anyio
async def test_failed_request_marks_the_span(spans: InMemorySpanExporter, make_client) -> None:
    async with make_client(flaky_then_ok(5), enable_tracing=True, max_retries=1) as client:
        with pytest.raises(ServerError):
            await client.request("GET", "/files")
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert any(event.name == "exception" for event in span.events)
    assert span.attributes["scopix.attempts"] == 2
    assert span.attributes["http.response.status_code"] == 503


@pytest.mark.anyio
async def test_span_is_a_child_of_the_callers_span(
    spans: InMemorySpanExporter, make_client
) -> None:
    tracer = trace.get_tracer("app")
    async with make_client(flaky_then_ok(0), enable_tracing=True) as client:
        with tracer.start_as_current_span("handle-order") as parent:
            await client.request("GET", "/files")
    child = next(s for s in spans.get_finished_spans() if s.name == "HTTP GET")
    assert child.parent is not None
    assert child.parent.span_id == parent.get_span_context().span_id


@pytest.mark.anyio
async def test_propagation_can_be_switched_off(
    spans: InMemorySpanExporter, make_client, recorder: Recorder
) -> None:
    config = {
        "enable_tracing": True,
        "propagate_trace_context": False,
        "tracing_service_name": "ingest-worker",
    }
    async with make_client(flaky_then_ok(0), **config) as client:
        await client.request("GET", "/files")
    assert "traceparent" not in recorder.requests[0].headers
    (span,) = spans.get_finished_spans()
    assert span.instrumentation_scope.name == "ingest-worker"


def test_sync_client_keeps_the_callers_trace(spans: InMemorySpanExporter) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(200, {})

    config = ClientConfig(api_key=VALID_KEY, base_url=BASE_URL, enable_tracing=True)
    with (
        SyncScopix.from_config(config, transport=httpx.MockTransport(handler)) as client,
        trace.get_tracer("app").start_as_current_span("batch-job") as parent,
    ):
        client.request("GET", "/files")
    child = next(s for s in spans.get_finished_spans() if s.name == "HTTP GET")
    assert child.parent is not None
    assert child.parent.span_id == parent.get_span_context().span_id
    assert format(parent.get_span_context().trace_id, "032x") in seen[0].headers["traceparent"]


def test_tracing_without_opentelemetry_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("scopix._tracing.is_tracing_available", lambda: False)
    with pytest.raises(ImportError, match=r"pip install 'scopix\[tracing\]'"):
        Scopix(VALID_KEY, enable_tracing=True)
    Scopix(VALID_KEY)  # without tracing nothing is needed


def test_is_tracing_available_reports_the_installation() -> None:
    assert scopix.is_tracing_available() is True
