"""Email: campaign surveys with the score row inside the message (`render`), sent by SMTP over
a few kept connections (`smtp`, `sender`), DKIM-signed where a key is configured
(`dkim_signing`); the `[email]` section (`config`). The score links open the survey pages of
`bot.links`, where the answer is recorded."""
