"""WhatsApp Business Cloud API: webhook verification and signed events, free-form messages
inside the 24-hour customer-service window, a template outside it, Meta's error codes."""
