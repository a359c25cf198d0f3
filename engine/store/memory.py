"""The in-memory snapshot store: this process only (``run``'s default; tests)."""

from __future__ import annotations


class MemoryStore:
    def __init__(self) -> None:
        self.texts: dict[str, str] = {}
        self.ended: set[str] = set()

    async def load(self, conversation_id: str) -> str | None:
        return self.texts.get(conversation_id)

    async def save(self, conversation_id: str, text: str) -> None:
        if conversation_id not in self.ended:
            self.texts[conversation_id] = text

    async def delete(self, conversation_id: str) -> None:
        self.texts.pop(conversation_id, None)
        self.ended.add(conversation_id)

    async def close(self) -> None:
        pass
