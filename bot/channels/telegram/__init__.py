"""Telegram: the customer channel, and the staff group and admins' home.

The webhook route (`webhook`) and the poller (`polling`) store updates in the inbound queue,
which hands them in batches to `updates`: aiogram's dispatcher with the routers in `handlers/`
(customers, the staff group, admins). Replies leave through the outbox by the Bot API senders
(`sender`, `json_sender`, `staff_sender`). `setup` builds the aiogram `Bot`, `commands`
publishes the "/" menus, `staff_directory` asks Telegram who is staff, `alerts` tells admins
when the staff group refuses the bot.

Unlike the other channels, Telegram has a staff side (`staff_sender`, the ticket topics) and
shares its token's rate limit with the campaigns rather than having one of its own."""
