"""What the admin commands say, in Russian and English: an admin reads the language of their
Telegram app, as customers do."""

from __future__ import annotations

from aiogram.types import User

from bot.core.language import from_language_code

_TEXTS: dict[str, dict[str, str]] = {
    "help": {
        "en": "Admin commands: /newsurvey NAME nps|csat|ces|custom [anonymous], /surveys, "
        "/newcampaign, /campaigns, /campaign ID, /pause ID, /resume ID, /cancel_campaign ID, "
        "/report nps|csat|ces [week|month], /report gaps (questions the FAQ did not answer)",
        "ru": "Команды администратора: /newsurvey ИМЯ nps|csat|ces|custom [anonymous], "
        "/surveys, /newcampaign, /campaigns, /campaign НОМЕР, /pause НОМЕР, /resume НОМЕР, "
        "/cancel_campaign НОМЕР, /report nps|csat|ces [week|month], /report gaps (вопросы, на "
        "которые FAQ не ответил)",
    },
    "no_gaps": {
        "en": "No unanswered questions in the last {days} days.",
        "ru": "За {days} дней вопросов без ответа нет.",
    },
    "gaps_head": {
        "en": "Questions the FAQ did not answer in the last {days} days: {misses}, "
        "in {groups} groups (same question, different words). The biggest:",
        "ru": "Вопросы, на которые FAQ не ответил, за {days} дней: {misses}, групп: {groups} "
        "(один вопрос разными словами). Самые частые:",
    },
    "gap_line": {
        "en": "{number}. asked {count}×: {examples}",
        "ru": "{number}. {count}×: {examples}",
    },
    "gap_keyword": {
        "en": "   closest entry: “{question}”. Close it: otklik faq keyword {slug} {phrase}",
        "ru": "   ближе всего: «{question}». Закрыть: otklik faq keyword {slug} {phrase}",
    },
    "gap_new": {
        "en": "   no entry comes close: otklik faq add SLUG {phrase} ANSWER",
        "ru": "   близких записей нет: otklik faq add SLUG {phrase} ОТВЕТ",
    },
    "gaps_more": {
        "en": "…and {more} more groups: otklik faq gaps, or Gaps in the web console.",
        "ru": "…и ещё групп: {more}. Все: otklik faq gaps или «Пробелы» в веб-консоли.",
    },
    "new_survey_help": {
        "en": "Usage: /newsurvey NAME nps|csat|ces [anonymous], or /newsurvey NAME custom "
        "Option 1; Option 2; ... Questions and follow-ups get the default texts in Russian and "
        "English; other texts: otklik survey create --texts.",
        "ru": "Как создать: /newsurvey ИМЯ nps|csat|ces [anonymous] или /newsurvey ИМЯ custom "
        "Вариант 1; Вариант 2; ... Вопросы и уточнения получат стандартные тексты на русском "
        "и английском; свои тексты: otklik survey create --texts.",
    },
    "no_campaigns": {"en": "No campaigns.", "ru": "Рассылок нет."},
    "no_campaign": {"en": "No campaign {what}.", "ru": "Нет рассылки {what}."},
    "give_an_id": {"en": "(give an id)", "ru": "(укажите номер)"},
    "no_deliveries": {"en": "no deliveries", "ru": "отправок нет"},
    "response_rate": {"en": "response rate {rate}", "ru": "доля ответов {rate}"},
    "campaign_state": {"en": "#{id} is {status}.", "ru": "#{id}: {status}."},
    "no_surveys": {"en": "No surveys yet.", "ru": "Опросов пока нет."},
    "anonymous": {"en": "anonymous", "ru": "анонимный"},
    "unexpected": {"en": "Unexpected {what}.", "ru": "Непонятно: {what}."},
    "not_created": {"en": "Not created: {why}.", "ru": "Не создан: {why}."},
    "survey_created": {
        "en": "Survey #{id} “{name}” ({kind}) created{note}. /newcampaign sends it.",
        "ru": "Опрос #{id} «{name}» ({kind}) создан{note}. Отправить: /newcampaign.",
    },
    "anonymous_note": {
        "en": " (anonymous: answers keep no link to the customer)",
        "ru": " (анонимный: ответы не связаны с клиентом)",
    },
    "wizard_survey": {
        "en": "New campaign, step 1 of 3: which survey?",
        "ru": "Новая рассылка, шаг 1 из 3: какой опрос?",
    },
    "wizard_when": {
        "en": "Step 2 of 3: survey “{name}”. When? (Times are {zone}.)",
        "ru": "Шаг 2 из 3: опрос «{name}». Когда? (Время: {zone}.)",
    },
    "wizard_who": {"en": "Step 3 of 3: who is asked?", "ru": "Шаг 3 из 3: кого спросить?"},
    "wizard_confirm": {
        "en": "Survey “{name}”, {when}, {who}; recontact throttle 30 days, quiet hours "
        "21:00-09:00. Create it?",
        "ru": "Опрос «{name}», {when}, {who}; повторно не чаще раза в 30 дней, тихие часы "
        "21:00-09:00. Создать?",
    },
    "wizard_create": {"en": "✅ Create", "ru": "✅ Создать"},
    "wizard_cancel": {"en": "✖️ Cancel", "ru": "✖️ Отмена"},
    "wizard_cancelled": {
        "en": "Cancelled: no campaign created.",
        "ru": "Отменено: рассылка не создана.",
    },
    "wizard_stale": {
        "en": "That step is no longer valid. /newcampaign",
        "ru": "Этот шаг уже не действует. /newcampaign",
    },
    "campaign_created": {
        "en": "Campaign #{id} “{name}” is {status}.",
        "ru": "Рассылка #{id} «{name}»: {status}.",
    },
    "chart_title": {"en": "{kind} by {period}", "ru": "{kind} по {period}"},
    # Wizard choices
    "when_now": {"en": "now", "ru": "сейчас"},
    "when_tmr": {"en": "tomorrow at 10:00", "ru": "завтра в 10:00"},
    "when_mon": {"en": "every Monday at 10:00", "ru": "каждый понедельник в 10:00"},
    "when_m1": {
        "en": "on the 1st of every month at 10:00",
        "ru": "1-го числа каждого месяца в 10:00",
    },
    "who_all": {"en": "everyone", "ru": "все"},
    "who_tg": {"en": "Telegram customers", "ru": "клиенты в Telegram"},
    "who_web": {"en": "web chat customers", "ru": "клиенты веб-чата"},
    "who_ru": {"en": "Russian speakers", "ru": "говорящие по-русски"},
    "who_en": {"en": "English speakers", "ru": "говорящие по-английски"},
    # Campaign statuses and periods
    "status_draft": {"en": "draft", "ru": "черновик"},
    "status_scheduled": {"en": "scheduled", "ru": "запланирована"},
    "status_running": {"en": "running", "ru": "идёт"},
    "status_paused": {"en": "paused", "ru": "на паузе"},
    "status_done": {"en": "done", "ru": "завершена"},
    "status_cancelled": {"en": "cancelled", "ru": "отменена"},
    "period_week": {"en": "week", "ru": "неделям"},
    "period_month": {"en": "month", "ru": "месяцам"},
}


def language_of(user: User | None) -> str:
    """The admin's app language: Russian for Russian (and neighbouring) apps, else English."""
    return from_language_code(user.language_code if user else None) or "en"


def say(key: str, language: str, **values: object) -> str:
    variants = _TEXTS[key]
    text = variants.get(language) or variants["en"]
    return text.format(**values) if values else text


def status_word(status: str, language: str) -> str:
    key = f"status_{status}"
    return say(key, language) if key in _TEXTS else status
