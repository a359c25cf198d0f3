"""``serve`` exports its spans with OTLP/HTTP (protobuf) when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set: a real
``serve`` process, a loopback collector that decodes what it receives with the OTLP protobuf schema."""

from __future__ import annotations

import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from websockets.asyncio.client import connect

from tests.realtime_schema import run
from tests.runtime.relay_helpers import FLOW, ask, start_serve
from tests.runtime.test_relay_resume import RESUME_SCRIPT


class Collector:
    def __init__(self) -> None:
        self.posts: list[tuple[str, str, bytes]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                collector.posts.append((self.path, self.headers.get("Content-Type", ""), body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


def test_serve_exports_its_spans_over_otlp_http(tmp_path: Path, monkeypatch: Any) -> None:
    collector = Collector()
    threading.Thread(target=collector.httpd.serve_forever, args=(0.02,), daemon=True).start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "switchboard-test")
    assert os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] == collector.url
    proc, url, _ = start_serve(tmp_path, FLOW, RESUME_SCRIPT, "--store", "memory:")
    try:

        async def talk() -> str:
            async with connect(url) as ws:
                return await ask(ws, "bill please")

        assert run(talk()) == "Billing here."
        proc.send_signal(signal.SIGTERM)  # a graceful stop flushes the batch of spans
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        collector.httpd.shutdown()
        collector.httpd.server_close()
    assert collector.posts, "the collector received nothing"
    names: set[str] = set()
    services: set[str] = set()
    for path, content_type, body in collector.posts:
        assert path == "/v1/traces" and content_type == "application/x-protobuf"
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            services |= {
                a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"
            }
            names |= {s.name for scope in resource_spans.scope_spans for s in scope.spans}
    assert services == {"switchboard-test"}
    assert {"switchboard.conversation", "switchboard.turn", "switchboard.handoff"} <= names
