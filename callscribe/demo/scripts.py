"""What the demo's callers say: scripted support-call dialogues (topics, names, amounts,
numbers read as words; a card-payment call with a phone number and an e-mail address), as
lines and holds that ``callscribe.demo.calls`` renders with real TTS voices."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

AGENT, CUSTOMER = "agent", "customer"
_LONG_PAUSE_SHARE = 0.07  # share of pauses that are long (3-6 s)


_AGENT_NAMES = ("Sarah", "Michael", "Anna", "David", "Emma", "Daniel", "Laura", "Kevin")
_FIRST_NAMES = ("Peter", "Mary", "James", "Linda", "Robert", "Karen", "Paul", "Helen")
_LAST_NAMES = ("Brown", "Smith", "Miller", "Johnson", "Wilson", "Taylor", "Clark", "Walker")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTHS = ("March", "April", "May", "June", "July", "August", "September", "October")
_ORDINALS = ("first", "second", "third", "fifth", "eighth", "tenth", "twelfth", "fifteenth")
_STREETS = ("Oak Street", "Maple Avenue", "Park Road", "Hill Street", "Lake Drive", "Main Street")
_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_ONES = (*_DIGITS, "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
         "seventeen", "eighteen", "nineteen")  # fmt: skip
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def _number_words(n: int) -> str:
    """0..999 in words ("one hundred twenty three")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    rest = n % 100
    return f"{_ONES[n // 100]} hundred" + ("" if rest == 0 else " " + _number_words(rest))


def _digit_groups(rng: random.Random, sizes: Sequence[int]) -> str:
    groups = [" ".join(_DIGITS[rng.randrange(1, 10)] for _ in range(k)) for k in sizes]
    return ", ".join(groups)


def _amount(rng: random.Random, low: int, high: int) -> str:
    dollars, cents = rng.randrange(low, high), rng.choice((0, 50, 99, 25))
    text = f"{_number_words(dollars)} dollars"
    return text if cents == 0 else f"{text} and {_number_words(cents)} cents"


def _fills(rng: random.Random) -> dict[str, str]:
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    return {
        "agent": rng.choice(_AGENT_NAMES),
        "first": first,
        "name": f"{first} {last}",
        "account": _digit_groups(rng, (3, 3)),
        "order": _digit_groups(rng, (3, 3)),
        "three": _digit_groups(rng, (3,)),
        "four": _digit_groups(rng, (4,)),
        "amount": _amount(rng, 40, 90),
        "amount2": _amount(rng, 15, 35),
        "day": rng.choice(_DAYS),
        "date": f"{rng.choice(_MONTHS)} {rng.choice(_ORDINALS)}",
        "street": f"{_number_words(rng.randrange(12, 90))} {rng.choice(_STREETS)}",
        "small": _number_words(rng.randrange(2, 9)),
        "email": f"{first.lower()} dot {last.lower()} at example dot com",
    }


@dataclass(frozen=True)
class Topic:
    """A scripted support-call topic: the customer's problem, (agent, customer) exchanges
    and the agent's resolution. Texts are ``str.format`` templates over the call's fills."""

    name: str
    problem: str
    exchanges: tuple[tuple[str, str], ...]
    resolution: str


TOPICS: tuple[Topic, ...] = (
    Topic(
        "billing_double_charge",
        "Hi, I was charged twice for my bill this month and I would like to get that fixed.",
        (
            ("I am sorry to hear that. Can you tell me the amount of the charge?",
             "Yes, it was {amount}, and it shows up two times on my bank statement."),
            ("When did you first notice the second charge?",
             "I noticed it on {day} morning when I checked my bank account."),
            ("I can see both payments on your account, and one of them is a duplicate.",
             "Okay, so can you send the extra money back to me?"),
            ("Did you use the same card for both payments?",
             "Yes, I only have one card on file with you."),
            ("Have you set up automatic payments on this account?",
             "I think so, I set them up last year."),
            ("It looks like the automatic payment ran on the same day you paid by phone.",
             "That makes sense, I did call to pay last week."),
        ),
        "I have refunded the duplicate charge of {amount}. You should see it in three to five "
        "business days.",
    ),
    Topic(
        "internet_outage",
        "Hello, my internet has not been working since {day} and I work from home.",
        (
            ("I am sorry about that. Are all the lights on your modem turned on?",
             "The power light is green, but the internet light is blinking red."),
            ("Could you please unplug the modem, wait ten seconds, and plug it back in?",
             "Sure, give me a second. Okay, I unplugged it and plugged it back in."),
            ("Is the internet light still blinking?",
             "Yes, it is still blinking red after a few minutes."),
            ("Are you using a cable or a wireless connection?",
             "Mostly wireless, but my computer is on a cable and it does not work either."),
            ("I can see that there is some work being done on the lines in your area.",
             "Do you know how long that is going to take?"),
            ("Have you had this problem before?",
             "It happened once last month, but it came back after an hour."),
        ),
        "I have booked a technician to visit you on {day} between nine and twelve in the "
        "morning.",
    ),
    Topic(
        "cancellation",
        "Hi, I would like to cancel my subscription, please.",
        (
            ("I am sorry to hear you want to leave. May I ask why you are cancelling?",
             "It has just become too expensive for me. I pay {amount} every month."),
            ("I understand. Would a lower monthly price change your mind?",
             "Maybe. What kind of price could you offer me?"),
            ("I can offer you the basic plan for {amount2} a month for the next year.",
             "That is still more than I want to pay, so I think I will cancel."),
            ("Okay. Do you still have any of our equipment at home?",
             "Yes, I have the box and the remote control."),
            ("You can return the equipment at any of our stores or send it by mail.",
             "I will send it by mail, that is easier for me."),
            ("Your service will stay active until the end of this billing month.",
             "Good, so I will not be charged again after that?"),
        ),
        "Your cancellation is done, and you will get a confirmation letter in the mail.",
    ),
    Topic(
        "address_change",
        "Hello, I am moving next month and I need to change my address.",
        (
            ("Congratulations on the move. What is the new address?",
             "It is {street}, apartment {small}."),
            ("And when would you like the change to take effect?",
             "From {date}, that is the day we get the keys."),
            ("Would you like us to move your service to the new address as well?",
             "Yes please, I would like to keep the same plan."),
            ("Will anybody be at the new place to let the technician in?",
             "Yes, my wife will be there all day."),
            ("Should we also send your bills to the new address?",
             "Yes, please send everything there from now on."),
            ("Is the phone number on your account still the best way to reach you?",
             "Yes, that number is still correct."),
        ),
        "Your address is updated, and your service will move on {date}.",
    ),
    Topic(
        "refund",
        "Hi, I returned a jacket two weeks ago and I still have not received my refund.",
        (
            ("I am sorry for the wait. Do you have the order number?",
             "Yes, the order number is {order}."),
            ("Thank you. How did you send the jacket back to us?",
             "I dropped it off at the post office with the return label."),
            ("I can see that the package arrived at our warehouse on {day}.",
             "Good, so why has the money not come back yet?"),
            ("The refund was held because the return form was missing.",
             "Oh, I think I forgot to put the form in the box."),
            ("How did you pay for the order?",
             "I paid with my credit card."),
            ("What was the total amount you paid?",
             "It was {amount}, including shipping."),
        ),
        "I have released the refund of {amount}. It will be back on your card within five "
        "days.",
    ),
    Topic(
        "password_reset",
        "Hello, I cannot log in to my account. I think I forgot my password.",
        (
            ("No problem, I can help you reset it. Are you using the website or the app?",
             "The app on my phone. It keeps saying that my password is wrong."),
            ("How many times did you try to log in?",
             "About five times, and now it says my account is locked."),
            ("For security, can you tell me the last four digits of your phone number?",
             "Sure, they are {four}."),
            ("Thank you. I have sent you a text message with a reset link.",
             "Okay, I just got the message."),
            ("Please open the link and choose a new password with at least ten letters.",
             "All right, I typed in a new password and it says it was saved."),
            ("Can you try to log in again with the new password?",
             "Yes, it works now. I can see my account."),
        ),
        "Great. I have also unlocked your account, so you should not have any more trouble.",
    ),
    Topic(
        "late_delivery",
        "Hi, I ordered a new chair two weeks ago and it still has not arrived.",
        (
            ("I am sorry about that. Can I have the order number, please?",
             "Yes, it is {order}."),
            ("Thank you. The tracking shows that the package is at our local depot.",
             "It has been there for a week. Why is it not moving?"),
            ("It looks like the driver could not find your house on {day}.",
             "That is strange, I was at home all day."),
            ("Is there a gate code or anything else the driver needs to know?",
             "No, but the house number is hard to see from the road."),
            ("Would you like me to add a note for the driver?",
             "Yes, please tell them it is the blue house next to the school."),
            ("When is a good time for the delivery?",
             "Any time in the afternoon is fine for me."),
        ),
        "I have added the note and booked the delivery for {day} afternoon.",
    ),
    Topic(
        "plan_upgrade",
        "Hello, I would like to upgrade my phone plan because I keep running out of data.",
        (
            ("Sure, I can help with that. How quickly do you run out of data?",
             "I watch a lot of videos, so I run out after about two weeks."),
            ("Right now you are on the basic plan for {amount2} a month.",
             "Yes, and I always go over the limit."),
            ("The premium plan has unlimited data for {amount} a month.",
             "That sounds good. Is there a contract?"),
            ("There is no contract, you can change plans at any time.",
             "Great, then I would like the premium plan."),
            ("Would you like the new plan to start today or with the next bill?",
             "Today, please. I am almost out of data again."),
            ("Do you also want to add a second line for a family member?",
             "No thanks, just my own phone for now."),
        ),
        "Your plan is upgraded to premium, and it is active right now.",
    ),
)  # fmt: skip

_CARD_TOPIC = Topic(
    "card_payment",
    "Hi, I would like to pay my bill over the phone with a credit card.",
    (),
    "Thank you, the payment of {amount} went through, and I will text you the receipt.",
)
_CARD_TEXT = (
    "Yes, the card number is four one one one, one one one one, one one one one, one one one one."
)
_AFTER_CARD_TEXT = "My phone number is five five five, {three}, {four}. Please text me the receipt."

#: Exchanges any call can use to reach the requested length.
_GENERIC: tuple[tuple[str, str], ...] = (
    ("Can I confirm the phone number on the account?",
     "Yes, it is five five five, {three}, {four}."),
    ("Do you prefer to get updates by text message or by email?",
     "Text messages are best for me."),
    ("Is this the best number to call you back if we get cut off?",
     "Yes, you can call me on this number."),
    ("How long have you been a customer with us?",
     "I think it has been about {small} years now."),
    ("Have you used our mobile app before?",
     "Yes, but I find it a little confusing."),
    ("Would you like me to send you a summary of this call?",
     "Yes please, that would be helpful."),
    ("Are you happy with the rest of your service?",
     "Yes, most of the time it works fine."),
    ("Do you have any other accounts with us?",
     "No, this is the only one."),
    ("Is the billing address the same as your home address?",
     "Yes, it is the same address."),
    ("Just so you know, this may take a few more minutes.",
     "That is fine, I have time."),
    ("Would you like to sign up for paperless billing?",
     "Sure, that sounds like a good idea."),
    ("May I ask how you heard about our new offers?",
     "I saw a letter from you in the mail."),
    ("Let me just make a note on your account.",
     "Okay, thank you."),
    ("Would you like to add a second contact person to the account?",
     "No, I am the only one who uses it."),
    ("Do you want me to set up a reminder before your next bill?",
     "Yes, a reminder a few days before would be great."),
    ("Have you checked your spam folder for our emails?",
     "No, I will have a look later today."),
    ("I see that you called us last month as well. Was that about the same thing?",
     "No, that was about something else."),
    ("Is there a good time of day for us to reach you?",
     "Mornings are usually better for me."),
    ("Would you like to hear about our loyalty discount?",
     "Sure, I am always happy to save some money."),
    ("Our system is a little slow today, thank you for your patience.",
     "No problem, take your time."),
    ("Did you receive the letter we sent you last week?",
     "I am not sure, I will check my mail tonight."),
    ("Would you like to pay your current balance of {amount2} today?",
     "Not today, I will pay it at the end of the month."),
)  # fmt: skip

_GREETING = "Thank you for calling customer support, my name is {agent}. How can I help you?"
_VERIFY = (
    "I can help you with that. Can I have your full name and account number, please?",
    "Sure, my name is {name}, and the account number is {account}.",
)
_HOLD_LINE = "Let me check that for you. Please hold for a moment."
_BACK_LINE = "Thank you for waiting, I am back."
_CLOSING = (
    (CUSTOMER, "Thank you so much for your help."),
    (AGENT, "You are welcome. Have a nice day, goodbye."),
)
_ANYTHING_ELSE = (
    "Is there anything else I can help you with today?",
    "No, I think that is all for today.",
)


@dataclass(frozen=True)
class _Line:
    speaker: str
    text: str
    gap: float  # seconds of pause before the line
    tag: str | None = None


@dataclass(frozen=True)
class _Hold:
    seconds: float
    gap: float


_Item = _Line | _Hold


class _Script:
    """Draws the pauses and fills of one call from its random generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.fills = _fills(rng)

    def pause(self) -> float:
        if self.rng.random() < _LONG_PAUSE_SHARE:
            return round(self.rng.uniform(3.0, 6.0), 3)
        return round(self.rng.uniform(0.4, 1.5), 3)

    def line(self, speaker: str, template: str, tag: str | None = None) -> _Line:
        return _Line(speaker, template.format(**self.fills), self.pause(), tag)

    def exchange(self, pair: tuple[str, str]) -> list[_Item]:
        return [self.line(AGENT, pair[0]), self.line(CUSTOMER, pair[1])]

    def extras(self, topic: Topic) -> Iterator[list[_Item]]:
        """Endless exchanges: identification, the topic's remaining ones, then shuffled
        generic ones (with fresh fills each time the pool comes round again)."""
        yield self.exchange(_VERIFY)
        yield from (self.exchange(pair) for pair in topic.exchanges[1:])
        while True:
            pool = list(_GENERIC)
            self.rng.shuffle(pool)
            yield from (self.exchange(pair) for pair in pool)
            self.fills = _fills(self.rng) | {
                k: self.fills[k] for k in ("agent", "first", "name", "account")
            }


def _head(script: _Script, topic: Topic, card_number: bool, email: bool) -> list[_Item]:
    items: list[_Item] = [script.line(AGENT, _GREETING), script.line(CUSTOMER, topic.problem)]
    if card_number:
        items.append(script.line(AGENT, "Sure, your balance is {amount}. Can I have the card "
                                 "number, please?"))  # fmt: skip
        items.append(script.line(CUSTOMER, _CARD_TEXT, "card"))
        after = script.line(CUSTOMER, _AFTER_CARD_TEXT, "after_card")
        items.append(replace(after, gap=round(script.rng.uniform(0.3, 0.7), 3)))
        if email:
            items.append(script.line(AGENT, "Thank you. And what is your email address?"))
            items.append(script.line(CUSTOMER, "It is {email}.", "email"))
    elif topic.exchanges:
        items += script.exchange(topic.exchanges[0])
    return items


def _hold_block(script: _Script, seconds: float) -> list[_Item]:
    hold_line = script.line(AGENT, _HOLD_LINE)
    music = _Hold(round(seconds, 3), round(script.rng.uniform(0.3, 0.8), 3))
    back = replace(script.line(AGENT, _BACK_LINE), gap=round(script.rng.uniform(0.5, 1.2), 3))
    return [hold_line, music, back]


def _tail(script: _Script, topic: Topic, long: bool) -> list[_Item]:
    items: list[_Item] = [script.line(AGENT, topic.resolution)]
    items += [script.line(speaker, text) for speaker, text in _CLOSING[:1]]
    if long:
        items += script.exchange(_ANYTHING_ELSE)
    return items + [script.line(speaker, text) for speaker, text in _CLOSING[1:]]
