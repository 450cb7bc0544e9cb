"""The button codec: every kind packs to the wire format buttons already in chats carry, reads
back as itself, and a stale, forged or oversized tap reads as nothing rather than an error."""

from __future__ import annotations

import pytest

from bot.core.buttons import (
    CUSTOMER_BUTTONS,
    STAFF_BUTTONS,
    AskPerson,
    ButtonData,
    Cancel,
    Complain,
    CsatScore,
    DetractorTicket,
    FaqEntry,
    FaqList,
    FaqPage,
    Hours,
    LinkAnswer,
    LinkStart,
    Menu,
    ResolveTicket,
    SendQuestion,
    SetPriority,
    SurveyAnswer,
    TakeTicket,
    Vote,
    decode,
)
from handlers.admin import (
    WIZARD_STEPS,
    WizardAudience,
    WizardCancel,
    WizardCreate,
    WizardSurvey,
    WizardWhen,
)

WIRE: list[tuple[ButtonData, str]] = [
    (Menu(), "menu"),
    (Hours(), "hours"),
    (FaqList(), "faq:list"),
    (FaqPage(2), "faq:page:2"),
    (FaqEntry(12), "faq:12"),
    (Vote(2**40, "y"), f"fb:{2**40}:y"),
    (AskPerson(), "handoff"),
    (Complain(), "complaint"),
    (SendQuestion(77), "handoff:77"),
    (SurveyAnswer(5, "10"), "sv:5:10"),
    (SurveyAnswer(5, "stop"), "sv:5:stop"),
    (CsatScore(3, 5), "csat:3:5"),
    (LinkStart(), "link"),
    (LinkAnswer("void", "ABCDEFGH"), "link:void:ABCDEFGH"),
    (Cancel(), "cancel"),
    (TakeTicket(9), "tk:take:9"),
    (ResolveTicket(9), "tk:resolve:9"),
    (SetPriority(9, "urgent"), "tk:prio:9:urgent"),
    (DetractorTicket(2**40), f"dt:{2**40}"),
    (WizardSurvey(4), "wz:4"),
    (WizardWhen(4, "tmr"), "wz:4:tmr"),
    (WizardAudience(4, "tmr", "ru"), "wz:4:tmr:ru"),
    (WizardCreate(4, "tmr", "ru"), "wz:4:tmr:ru:ok"),
    (WizardCancel(), "wz:0:x"),
]
KINDS = (*CUSTOMER_BUTTONS, *STAFF_BUTTONS, *WIZARD_STEPS)


@pytest.mark.parametrize(("button", "data"), WIRE, ids=[data for _, data in WIRE])
def test_each_kind_packs_to_its_wire_format_and_reads_back(button: ButtonData, data: str):
    assert button.pack() == data
    assert decode(data, KINDS) == button


@pytest.mark.parametrize(
    "data",
    [
        "",
        "menu:extra",  # a kind without fields takes none
        "faq:0",  # ids are positive
        "faq:2147483648",  # past a 32-bit column
        f"fb:{2**63}:y",  # past a 64-bit one
        "fb:5:maybe",
        "sv:5:123",  # scores have at most two digits
        "sv:5:later",
        "csat:3:6",
        "link:maybe:ABCD",
        "link:yes:",  # a code is not empty
        "tk:take:x",
        "wz:4:never",
        "wz:4:tmr:mars",
        "faq:" + "1" * 70,  # over Telegram's 64 bytes
        "faq:１２",  # digits, but not ASCII ones
    ],
)
def test_a_stale_or_forged_tap_reads_as_nothing(data: str):
    assert decode(data, KINDS) is None


def test_what_does_not_fit_a_button_is_refused_when_packed():
    with pytest.raises(ValueError):
        LinkAnswer("yes", "A:B").pack()
    with pytest.raises(ValueError):
        SetPriority(1, "x" * 60).pack()
