"""Understanding what a customer wrote: the FAQ (its file, catalog, word and meaning matchers,
ranking), the intents (greetings, thanks, complaints), the language, and the questions the FAQ
missed (`gaps`)."""
