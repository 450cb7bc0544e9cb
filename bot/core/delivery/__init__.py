"""Getting events in and replies out durably: the inbound queue and its group-committed
arrivals, the outbox, outgoing webhooks with their target policy, and request signing."""
