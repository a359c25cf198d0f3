"""The client side of the wire, and the asyncio I/O that runs a flow: the upstream client, the conversation
driver that feeds the session core, the relay, the tool registry and the audit file sink."""
