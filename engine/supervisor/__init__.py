"""Supervisor backends of the chat-supervisor pattern: the protocol and its errors (``backend``), the factory,
and the two backends (``scripted``: TOML rules; ``openai``: the Responses API)."""
