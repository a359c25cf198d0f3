"""The Realtime protocol as both sides of the wire see it: event encoding, protocol errors, client-event
checks against ``openai.types.realtime``, and the websocket server base the emulator and the relay share."""
