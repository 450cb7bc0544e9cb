"""Survey pages under /s/ and the signed links that open them (`tokens`, `signing_key`): answered
by a link, a QR code or an email's score row; the answers' rules live in
`bot.campaigns.link_answers`."""
