"""Survey questions and their keyboards, in Russian and English."""

from __future__ import annotations

import json
from typing import Any

from bot.core.buttons import SurveyAnswer
from bot.core.messages import Button, Reply

SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}

DEFAULT_QUESTIONS = {
    "nps": {
        "ru": "Насколько вероятно, что вы порекомендуете нас друзьям? "
        "0 — точно нет, 10 — точно да.",
        "en": "How likely are you to recommend us to a friend? 0 is not at all, 10 is extremely.",
    },
    "csat": {
        "ru": "Насколько вы довольны нашим сервисом? 1 — совсем нет, 5 — очень.",
        "en": "How satisfied are you with our service? 1 is not at all, 5 is very.",
    },
    "ces": {
        "ru": "Насколько легко было решить ваш вопрос? 1 — очень трудно, 7 — очень легко.",
        "en": "How easy was it to get your issue solved? 1 is very hard, 7 is very easy.",
    },
}
DEFAULT_FOLLOWUP = {
    "ru": "Спасибо! Какая главная причина вашей оценки? Напишите одним сообщением.",
    "en": "Thank you! What is the main reason for your score? Reply in one message.",
}
PAGE_FOLLOWUP = {  # on a survey page, under "your score is counted, thank you"
    "ru": "Какая главная причина вашей оценки?",
    "en": "What is the main reason for your score?",
}
ANONYMOUS_NOTE = {
    "ru": "Опрос анонимный: ответ не связан с вашим профилем.",
    "en": "This survey is anonymous: your answer is not linked to you.",
}
BUTTONS = {
    "less": {"ru": "Спрашивать реже", "en": "Ask me less"},
    "stop": {"ru": "Не присылать опросы", "en": "Stop surveys"},
    "skip": {"ru": "Пропустить", "en": "Skip"},
}
CLOSED = {"ru": "Этот опрос уже закрыт. Спасибо!", "en": "This survey has closed. Thank you!"}
ALREADY = {"ru": "Ответ уже учтён. Спасибо!", "en": "Your answer is already counted. Thank you!"}
LESS_DONE = {
    "ru": "Хорошо, будем спрашивать не чаще раза в 90 дней.",
    "en": "All right, we will ask at most once every 90 days.",
}
STOP_DONE = {
    "ru": "Больше не будем присылать опросы.",
    "en": "We will not send you surveys any more.",
}
COMMENT_THANKS = {"ru": "Спасибо за ответ!", "en": "Thank you for your answer!"}


def segment(kind: str, score: int) -> str:
    """Promoter/passive/detractor for NPS; high/low for the other scales."""
    if kind == "nps":
        return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
    low, high = SCALES.get(kind, (1, 5))
    return (
        "promoter" if score >= high - 1 else "passive" if score > (low + high) / 2 else "detractor"
    )


def texts_of(raw: str) -> dict[str, Any]:
    data = json.loads(raw or "{}")
    return data if isinstance(data, dict) else {}


def pick(variants: dict[str, str], language: str) -> str:
    """The text in `language`, else English, else whatever there is."""
    return variants.get(language) or variants.get("en") or next(iter(variants.values()), "")


def question(kind: str, texts: dict[str, Any], language: str, anonymous: bool) -> str:
    text = pick(texts.get("question") or DEFAULT_QUESTIONS.get(kind, {}), language)
    return f"{text}\n\n{pick(ANONYMOUS_NOTE, language)}" if anonymous else text


def followup(
    kind: str,
    texts: dict[str, Any],
    language: str,
    score: int,
    default: dict[str, str] = DEFAULT_FOLLOWUP,
) -> str:
    followups = texts.get("followup") or {}
    variants = followups.get(segment(kind, score)) or followups.get("default") or default
    return pick(variants, language)


def survey_reply(
    kind: str, texts: dict[str, Any], language: str, anonymous: bool, delivery_id: int
) -> Reply:
    """The question with one-tap answers: NPS 0-10 in two rows, then opt-out buttons."""
    if kind == "custom":
        options = texts.get("options") or []
        rows: list[tuple[Button, ...]] = [
            (Button(str(option)[:40], SurveyAnswer(delivery_id, str(number)).pack()),)
            for number, option in enumerate(options)
        ]
    else:
        low, high = SCALES[kind]
        scores = [
            Button(str(n), SurveyAnswer(delivery_id, str(n)).pack()) for n in range(low, high + 1)
        ]
        half = (len(scores) + 1) // 2 if kind == "nps" else len(scores)
        rows = [tuple(scores[:half])] + ([tuple(scores[half:])] if scores[half:] else [])
    rows.append(
        (
            Button(pick(BUTTONS["less"], language), SurveyAnswer(delivery_id, "less").pack()),
            Button(pick(BUTTONS["stop"], language), SurveyAnswer(delivery_id, "stop").pack()),
        )
    )
    return Reply(question(kind, texts, language, anonymous), buttons=tuple(rows))
