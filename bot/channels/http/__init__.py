"""The generic HTTP channel: any platform that can POST JSON and receive it (a shop's app, a
CRM, a messenger behind a bridge). Inbound `POST /api/v1/channels/<name>/messages`, signed;
replies and staff messages POSTed to the platform's URL through the outbox."""
