"""The one base of every error Switchboard raises on purpose, so an embedding application can tell ours from bugs.

```python
try:
    compiled = compile_flow("flows/retail.toml")
except SwitchboardError as exc:     # FlowError, ProtocolError, UpstreamError, ScriptError, ToolBindingError…
    report(exc)
```
"""

from __future__ import annotations


class SwitchboardError(Exception):
    """Base of the errors the package raises on purpose (a bad flow, script or frame; an upstream failure)."""
