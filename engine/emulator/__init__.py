"""The server side of the wire: a local Realtime server with a scripted model (its connection state, its
responses, its script format), faithful to the GA protocol; the embedded default for demos, tests, benchmarks."""
