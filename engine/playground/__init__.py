"""``switchboard playground``: a web page to talk to a flow and watch it route (:mod:`.server`)."""
