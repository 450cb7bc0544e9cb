"""Everything the bot says, in Russian and English. Placeholders use str.format names."""

from __future__ import annotations

from typing import Final

_TEXTS: Final[dict[str, dict[str, str]]] = {
    "greeting": {
        "ru": "Здравствуйте, {name}! Я помощник {bot}. Спросите что угодно своими словами "
        "или выберите в меню.",
        "en": "Hello, {name}! I am the {bot} assistant. Ask anything in your own words "
        "or pick from the menu.",
    },
    "greeting_anonymous": {
        "ru": "Здравствуйте! Я помощник {bot}. Спросите что угодно своими словами "
        "или выберите в меню.",
        "en": "Hello! I am the {bot} assistant. Ask anything in your own words "
        "or pick from the menu.",
    },
    "menu_prompt": {"ru": "Чем могу помочь?", "en": "How can I help?"},
    "btn_faq": {"ru": "❓ Частые вопросы", "en": "❓ Common questions"},
    "btn_hours": {"ru": "🕘 Часы работы", "en": "🕘 Working hours"},
    "btn_leave_message": {"ru": "✉️ Написать человеку", "en": "✉️ Message a person"},
    "btn_menu": {"ru": "☰ Меню", "en": "☰ Menu"},
    "btn_yes": {"ru": "👍 Да", "en": "👍 Yes"},
    "btn_no": {"ru": "👎 Нет", "en": "👎 No"},
    "btn_cancel": {"ru": "Отмена", "en": "Cancel"},
    "faq_list_title": {"ru": "Частые вопросы", "en": "Common questions"},
    "faq_empty": {
        "ru": "Список вопросов пока пуст. Напишите свой вопрос — я передам его человеку.",
        "en": "There are no common questions yet. Write your question and I will pass it on.",
    },
    "did_it_help": {"ru": "Это помогло?", "en": "Did this help?"},
    "thanks_feedback": {"ru": "Спасибо за оценку!", "en": "Thanks for the feedback!"},
    "sorry_feedback": {
        "ru": "Жаль, что не помогло. Хотите написать человеку?",
        "en": "Sorry it did not help. Would you like to message a person?",
    },
    "feedback_already": {"ru": "Оценка уже учтена.", "en": "Your vote is already counted."},
    "faq_suggest": {
        "ru": "Я не уверен, что понял. Может быть, вы имели в виду:",
        "en": "I am not sure I understood. Did you mean:",
    },
    "thanks_reply": {
        "ru": "Пожалуйста! Если появятся вопросы — пишите.",
        "en": "You are welcome! Write any time you have a question.",
    },
    "surveys_stopped": {
        "ru": "Хорошо, больше не будем присылать опросы.",
        "en": "All right, we will not send you surveys any more.",
    },
    "faq_no_match": {
        "ru": "Я не нашёл ответа на этот вопрос. Могу передать его человеку.",
        "en": "I could not find an answer to that. I can pass it on to a person.",
    },
    "btn_send_question": {"ru": "✉️ Передать человеку", "en": "✉️ Pass it to a person"},
    "expect_open": {
        "ru": "Мы сейчас работаем, ответим до {time}.",
        "en": "We are open now and will answer by {time}.",
    },
    "expect_closed": {
        "ru": "Сейчас мы не работаем. Откроемся {opening}, ответим до {time}.",
        "en": "We are closed now. We open {opening} and will answer by {time}.",
    },
    "expect_unknown": {
        "ru": "Мы ответим, как только сможем.",
        "en": "We will answer as soon as we can.",
    },
    "cancelled": {"ru": "Отменено.", "en": "Cancelled."},
    "btn_link": {"ru": "🔗 Связать с другим чатом", "en": "🔗 Link another chat"},
    "link_code": {
        "ru": "Ваш код: {code}\nОтправьте в другом чате с нами (Telegram, веб-чат…): "
        "/link {code}\nИ там будет эта же переписка с обращениями. Код действует {minutes} "
        "минут, один раз.",
        "en": "Your code: {code}\nSend it in another chat with us (Telegram, web chat…): "
        "/link {code}\nThat chat will then share this conversation and your tickets. The code "
        "works once, for {minutes} minutes.",
    },
    "link_done": {
        "ru": "Готово: этот чат и ваш другой чат с нами теперь одна переписка. Обращения и "
        "история общие, отвечать можно в любом.",
        "en": "Done: this chat and your other chat with us are now one conversation. Your "
        "tickets and history are shared; write in either.",
    },
    "link_invalid": {
        "ru": "Код не подошёл: он неверный, уже использован или устарел. Получите новый "
        "командой /link в другом чате.",
        "en": "That code did not work: it is wrong, used or expired. Get a new one with /link "
        "in your other chat.",
    },
    "link_same": {"ru": "Этот чат уже связан с тем.", "en": "This chat is already linked."},
    "link_confirm": {
        "ru": "Этот код получен в чате «{where}»{name}. Если подтвердить, этот чат и тот станут "
        "одной перепиской: там будет видна вся история отсюда и ваши обращения.\n\n"
        "Подтверждайте, только если тот чат ваш. Никогда не вводите код, который вам прислал "
        "кто-то другой.",
        "en": "This code was asked for in a {where} chat{name}. If you confirm, this chat and "
        "that one become one conversation: everything here, your history and tickets, will be "
        "seen there.\n\nConfirm only if that chat is yours. Never type a code someone else "
        "sent you.",
    },
    "btn_link_yes": {"ru": "✅ Да, это мой чат", "en": "✅ Yes, it is mine"},
    "btn_link_no": {"ru": "Нет, отмена", "en": "No, cancel"},
    "link_claimed": {
        "ru": "Ваш код {code} ввели в чате «{where}»{name}. Чаты станут одной перепиской, только "
        "когда там подтвердят. Если это не вы, нажмите «Это не я»: код перестанет действовать.",
        "en": "Your code {code} was typed in a {where} chat{name}. The chats become one "
        'conversation only once it is confirmed there. If that was not you, press "Not me": '
        "the code stops working.",
    },
    "btn_link_not_me": {"ru": "🚫 Это не я", "en": "🚫 Not me"},
    "link_joined_other": {
        "ru": "Готово: этот чат и чат «{where}» теперь одна переписка.",
        "en": "Done: this chat and the {where} chat are now one conversation.",
    },
    "link_declined": {
        "ru": "Хорошо, чаты не связаны.",
        "en": "All right, the chats are not linked.",
    },
    "link_called_off": {
        "ru": "Код отменён: чаты не связаны. Новый код можно получить командой /link.",
        "en": "The code is called off: the chats are not linked. Get a new one with /link.",
    },
    "btn_complaint": {"ru": "⚠️ Пожаловаться", "en": "⚠️ Complain"},
    "complaint_prompt": {
        "ru": "Опишите проблему одним сообщением: что случилось и номер заказа, если есть. "
        "Можно приложить фото или документ.",
        "en": "Describe the problem in one message: what happened and the order number if you "
        "have one. You can attach a photo or a document.",
    },
    "ticket_opened": {
        "ru": "Обращение №{id} принято: «{text}»\n\n{expectation}\n"
        "Пишите сюда — все сообщения попадут в это обращение.",
        "en": "Ticket #{id} is open: “{text}”\n\n{expectation}\n"
        "Write here: every message goes to this ticket.",
    },
    "edited_message": {"ru": "✏️ Исправлено: {text}", "en": "✏️ Edited: {text}"},
    "ticket_added": {
        "ru": "Добавлено в обращение №{id}.",
        "en": "Added to ticket #{id}.",
    },
    "my_tickets_none": {"ru": "У вас нет обращений.", "en": "You have no tickets."},
    "my_tickets_title": {"ru": "Ваши обращения:", "en": "Your tickets:"},
    "status_new": {"ru": "новое", "en": "new"},
    "status_open": {"ru": "в работе", "en": "in progress"},
    "status_waiting": {"ru": "ждём вашего ответа", "en": "waiting for you"},
    "status_resolved": {"ru": "решено", "en": "resolved"},
    "status_closed": {"ru": "закрыто", "en": "closed"},
    "staff_reply": {"ru": "Поддержка ({name}):\n{text}", "en": "Support ({name}):\n{text}"},
    "ticket_resolved": {
        "ru": "Обращение №{id} решено. Оцените, пожалуйста, как мы помогли: "
        "1 — плохо, 5 — отлично.",
        "en": "Ticket #{id} is resolved. Please rate our help: 1 is poor, 5 is excellent.",
    },
    "csat_thanks": {
        "ru": "Спасибо за оценку! Хотите добавить комментарий? Напишите его сообщением.",
        "en": "Thank you for the rating! Want to add a comment? Just write it.",
    },
    "ticket_resolved_again": {
        "ru": "Обращение №{id} снова решено. Если что-то ещё не так, просто напишите сюда.",
        "en": "Ticket #{id} is resolved again. If anything is still wrong, just write here.",
    },
    "csat_already": {"ru": "Оценка уже учтена.", "en": "Your rating is already counted."},
    "csat_comment_thanks": {
        "ru": "Спасибо, передали команде.",
        "en": "Thanks, passed to the team.",
    },
    "btn_skip": {"ru": "Пропустить", "en": "Skip"},
    "too_long": {
        "ru": "Сообщение слишком длинное ({length} символов). Максимум — {limit}.",
        "en": "The message is too long ({length} characters). The limit is {limit}.",
    },
    "empty_message": {
        "ru": "Я понимаю только текст. Напишите вопрос словами.",
        "en": "I can only read text. Please write your question in words.",
    },
    "unknown_button": {
        "ru": "Эта кнопка больше не работает. Вот меню:",
        "en": "That button no longer works. Here is the menu:",
    },
    "hours_open": {
        "ru": "Сейчас открыто, до {until}.",
        "en": "We are open now, until {until}.",
    },
    "hours_closed": {"ru": "Сейчас закрыто.", "en": "We are closed now."},
    "hours_next": {"ru": "Откроемся {opening}.", "en": "We open {opening}."},
    "hours_today": {"ru": "Сегодня: {spans}.", "en": "Today: {spans}."},
    "hours_today_closed": {"ru": "Сегодня выходной.", "en": "Today we are closed."},
    "hours_holiday": {"ru": "Сегодня праздник: {name}.", "en": "Today is a holiday: {name}."},
    "hours_zone": {"ru": "Время указано по зоне {zone}.", "en": "Times are in {zone}."},
    "today_word": {"ru": "сегодня", "en": "today"},
    "day_closed": {"ru": "выходной", "en": "closed"},
    "day_holiday": {"ru": "выходной ({name})", "en": "closed ({name})"},
    "today": {"ru": "сегодня в {time}", "en": "today at {time}"},
    "tomorrow": {"ru": "завтра в {time}", "en": "tomorrow at {time}"},
    "on_day": {"ru": "{day} в {time}", "en": "on {day} at {time}"},
    "by_today": {"ru": "{time} сегодня", "en": "{time} today"},
    "by_tomorrow": {"ru": "{time} завтра", "en": "{time} tomorrow"},
    "by_on_day": {"ru": "{time} {day}", "en": "{time} on {day}"},
}

_WEEKDAYS: Final[dict[str, list[str]]] = {
    "ru": [
        "в понедельник",
        "во вторник",
        "в среду",
        "в четверг",
        "в пятницу",
        "в субботу",
        "в воскресенье",
    ],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}


def t(key: str, language: str, **values: object) -> str:
    variants = _TEXTS[key]
    template = variants.get(language) or variants["en"]
    return template.format(**values) if values else template


_CHANNEL_WORDS: dict[str, dict[str, str]] = {
    "telegram": {"ru": "Telegram", "en": "Telegram"},
    "webchat": {"ru": "веб-чат", "en": "web chat"},
    "whatsapp": {"ru": "WhatsApp", "en": "WhatsApp"},
    "vk": {"ru": "ВКонтакте", "en": "VK"},
    "email": {"ru": "почта", "en": "email"},
}


def channel_word(channel: str, language: str) -> str:
    """A channel as a customer calls it; a generic HTTP channel by its configured name."""
    words = _CHANNEL_WORDS.get(channel)
    return (words.get(language) or words["en"]) if words else channel


def weekday_name(weekday: int, language: str) -> str:
    return _WEEKDAYS.get(language, _WEEKDAYS["en"])[weekday]
