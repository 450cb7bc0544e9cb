"""Telegram: the customer channel, and the staff group and admins' home.

The webhook route (`webhook`) and the poller (`polling`) store updates, which the inbox
(`inbox`) handles in batches through aiogram's dispatcher and the routers in `handlers/`
(customers, the staff group, admins); replies leave through the outbox by the Bot API senders
(`sender`, `json_sender`, `staff_sender`). `setup` builds the aiogram `Bot`, `commands`
publishes the "/" menus, `staff_directory` asks Telegram who is staff.

Telegram is wired by `bot.app.create_services` rather than the registry: its one `Bot` and
rate limit serve the customer chats, the staff group and the admins alike."""
