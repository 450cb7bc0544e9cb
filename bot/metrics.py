"""Prometheus metrics, one registry per application instance (no process globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.updates_received = Counter(
            "otklik_updates_received", "Inbound events accepted", ["source"], registry=self.registry
        )
        self.updates_duplicate = Counter(
            "otklik_updates_duplicate",
            "Redelivered events ignored",
            ["source"],
            registry=self.registry,
        )
        self.updates_handled = Counter(
            "otklik_updates_handled", "Inbound events processed", ["source"], registry=self.registry
        )
        self.updates_failed = Counter(
            "otklik_updates_failed",
            "Inbound events whose handling raised",
            ["source"],
            registry=self.registry,
        )
        self.handle_seconds = Histogram(
            "otklik_update_handle_seconds",
            "Time from receipt to handled",
            ["source"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.faq_hits = Counter(
            "otklik_faq_hits", "Questions answered from the FAQ", registry=self.registry
        )
        self.faq_suggestions = Counter(
            "otklik_faq_suggestions", "Questions answered with suggestions", registry=self.registry
        )
        self.faq_misses = Counter(
            "otklik_faq_misses", "Questions with no FAQ match", registry=self.registry
        )
        self.faq_dense = Counter(
            "otklik_faq_dense",
            "FAQ questions by whether the meaning (dense) pass ran, or why not",
            ["outcome"],  # ran, recalled, words_sure, too_long, over_budget, off
            registry=self.registry,
        )
        self.faq_prepare_late = Counter(
            "otklik_faq_prepare_late",
            "Batches whose questions' meaning was not ready within the bound",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
