"""VK (ВКонтакте) community messages through the Callback API: the route VK posts events to,
messages.send with callback keyboards, VK's error codes, one rate limit per community."""
