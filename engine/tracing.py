"""OpenTelemetry, optional: spans through the OpenTelemetry API when it is installed
(``pip install switchboard[otel]``), nothing at all when it is not.

Everything here is safe to call without OpenTelemetry: :func:`span` is then a context manager that does
nothing. :func:`configure_from_env` installs the SDK's tracer provider with an OTLP (``http/protobuf``)
exporter when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``…_TRACES_ENDPOINT``) is set; the exporter itself reads
the standard ``OTEL_*`` variables (headers, timeout, compression, service name via ``OTEL_SERVICE_NAME``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

log = logging.getLogger("switchboard.tracing")

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # pragma: no cover - the extra is not installed
    trace = None  # type: ignore[assignment]

Attributes = Mapping[str, Any]
"""Span attributes: str, bool, int, float, or a list of one of those."""


def enabled() -> bool:
    """Whether the OpenTelemetry API is importable (spans go to whatever provider is installed)."""
    return trace is not None


def tracer() -> Any:
    return trace.get_tracer("switchboard") if trace is not None else None


def start(
    name: str,
    attributes: Attributes | None = None,
    *,
    parent: Any = None,
    kind: str = "INTERNAL",
    start_time_ns: int | None = None,
) -> Any:
    """A started span (``None`` without OpenTelemetry); ``parent`` is a span or a context (``None``: the
    current one). End it with :func:`end`."""
    if trace is None:
        return None
    context = trace.set_span_in_context(parent) if isinstance(parent, trace.Span) else parent
    return tracer().start_span(
        name,
        context=context,
        kind=getattr(trace.SpanKind, kind),
        attributes=dict(attributes or {}),
        start_time=start_time_ns,
    )


def end(
    span: Any,
    attributes: Attributes | None = None,
    *,
    end_time_ns: int | None = None,
    error: str | None = None,
) -> None:
    if span is None:
        return
    if attributes:
        span.set_attributes(dict(attributes))
    if error is not None:
        span.set_status(trace.Status(trace.StatusCode.ERROR, error))
    span.end(end_time=end_time_ns)


@contextmanager
def current(span: Any) -> Iterator[None]:
    """Make ``span`` the current span inside the block (children started there are its children)."""
    if span is None or trace is None:
        yield
        return
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield
    finally:
        otel_context.detach(token)


def span(name: str, attributes: Attributes | None = None, *, kind: str = "INTERNAL") -> Any:
    """A child of the current span for the block (no-op without OpenTelemetry)."""
    if trace is None:
        return nullcontext()
    return tracer().start_as_current_span(
        name, kind=getattr(trace.SpanKind, kind), attributes=dict(attributes or {})
    )


def context_from_traceparent(traceparent: str | None, tracestate: str | None = None) -> Any:
    """The remote parent a W3C ``traceparent`` header names (``None``: none, or it is malformed)."""
    if trace is None or not traceparent:
        return None
    carrier = {"traceparent": traceparent, **({"tracestate": tracestate} if tracestate else {})}
    context = TraceContextTextMapPropagator().extract(carrier)
    parent = trace.get_current_span(context).get_span_context()
    return context if parent.is_valid else None


def traceparent_of(span: Any) -> str | None:
    """``span`` as a W3C ``traceparent`` value (to continue its trace later, e.g. after a resume)."""
    if span is None or trace is None:
        return None
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent")


def configure_from_env(environ: Mapping[str, str] = os.environ) -> Callable[[], None]:
    """Install an OTLP/HTTP exporting tracer provider when an OTLP endpoint is configured; returns the
    function that flushes and shuts it down (a no-op when nothing was installed)."""
    if not (environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return lambda: None
    if environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return lambda: None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the exporter is missing: pip install 'switchboard[otel]'"
        )
        return lambda: None
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol not in (None, "", "http/protobuf"):
        log.warning("OTLP protocol %r is not supported here; exporting with http/protobuf", protocol)
    resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME", "switchboard")})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    assert trace is not None
    trace.set_tracer_provider(provider)
    return provider.shutdown
