"""Otklik's own web chat: the page, its WebSocket and the HTTP JSON fallback (`routes`), the
JSON it speaks (`payloads`), and the open sockets staff replies are pushed to (`hub`).

Unlike the other packages, the web chat answers in the same request (the widget waits for
its reply), so its routes run the conversation directly instead of through the inbound queue;
redelivery is handled by the client's optional message id."""
