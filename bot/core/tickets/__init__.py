"""Tickets: the service that opens, assigns, merges and resolves them (`service`), routing
rules, reply-time targets (`sla`) and linking a customer's channels (`linking`)."""
