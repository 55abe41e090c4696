"""Phrase bank for synthetic support calls that test topic clustering and sentiment scoring.

A call generator builds each call from one topic and one customer mood: the agent greets
and verifies, the customer opens with a mood line and a topic problem, asks topic questions,
the agent answers and resolves, and the customer reacts and closes in the same mood.

The calls are spoken by ``flite`` and transcribed by Whisper tiny, so every line is plain
spoken English of five to twenty five words, numbers are written as words, and only
``. , ? ! '`` appear as punctuation.

* :data:`TOPIC_PHRASES` carries each topic's vocabulary; its problem statements and questions
  are neutral in mood, so any of them fits an angry, a neutral or a happy call.
* :data:`MOOD_LINES` carries the customer's mood and never names a topic.
* :data:`AGENT_LINES` and :data:`CUSTOMER_VERIFY` are neither topic nor mood specific.
"""

from __future__ import annotations

MOODS: tuple[str, ...] = ("angry", "neutral", "happy")

#: topic name -> data
TOPIC_PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "billing": {
        "problem": (
            "I was charged twice for the same month on my last bill.",
            "My latest invoice shows a charge of ninety dollars that I don't recognise.",
            "There's an extra fee on my bill for a service I never ordered.",
            "The amount taken from my bank account is higher than what my invoice says.",
            "I got another bill for March even though I already paid it in full.",
            "My monthly payment went up by twenty dollars and the invoice doesn't say why.",
            "I can see a double charge from your company on my credit card statement.",
            "My invoice lists a late payment fee, but I paid before the due date.",
        ),
        "question": (
            "Can you tell me why I was charged twice this month?",
            "When will the refund for the double charge show up on my card?",
            "Could you send me a corrected invoice by email?",
            "What exactly is this extra fee on my bill for?",
            "Is it possible to change the date my monthly payment is taken?",
            "How do I download my old invoices from the website?",
            "Will the wrong charge be removed from my next bill automatically?",
            "Can I pay the outstanding balance by bank transfer instead of by card?",
            "Why is my bill higher than the price I agreed to when I signed up?",
        ),
        "answer": (
            "I can see the payment was taken twice because of a system error on our side.",
            "The extra charge is a one time activation fee that was added to your first invoice.",
            "Your bill went up because the introductory discount ended last month.",
            "Refunds usually go back to your card within five to seven working days.",
            "The late fee was applied by mistake, since your payment reached us on time.",
            "All your invoices are listed under the billing section of your online account.",
            "This invoice covers two months, because the previous bill was delayed.",
        ),
        "resolution": (
            "I have refunded the duplicate payment, and you will get a confirmation today.",
            "I have removed the extra fee and sent you a corrected invoice.",
            "I have added a credit of thirty dollars to your next bill to make up for the error.",
            "I have moved your payment date to the fifteenth of each month.",
            "I have waived the late payment fee, so your balance is now zero.",
        ),
    },
    "internet": {
        "problem": (
            "My internet connection has been down since yesterday evening.",
            "The wifi at home keeps dropping out every few minutes.",
            "My internet is really slow, and web pages take forever to load.",
            "The lights on my router are blinking red and none of my devices can connect.",
            "I pay for fast broadband, but the speed test only shows two megabits.",
            "My laptop can see the wifi network, but it says there is no internet access.",
            "Video calls keep freezing because the connection cuts out all the time.",
        ),
        "question": (
            "Is there an internet outage in my area right now?",
            "Should I restart the router or reset it to factory settings?",
            "How long will it take until my internet is working again?",
            "Can you run a line test on my connection from your side?",
            "Why is my download speed so much lower than what my broadband plan promises?",
            "Do I need a new router to get faster wifi?",
            "Could you send a technician to check the cable in my flat?",
            "Is there a way to make the wifi signal reach the upstairs rooms?",
            "What do the flashing lights on the front of the router mean?",
        ),
        "answer": (
            "There is a network outage in your area, and our engineers are already working on it.",
            "The line test shows your router keeps losing the signal, which explains the speed.",
            "Unplugging the router for thirty seconds often clears a stuck connection.",
            "Your wifi is on a crowded channel, and a quieter one should make it more stable.",
            "A red light on the router means it cannot reach our network at all.",
            "Your plan gives up to one hundred megabits, but wifi is usually slower than a cable.",
            "Thick walls can block the wifi signal, so an extender would help the far rooms.",
        ),
        "resolution": (
            "I have reset your connection from our end, so the router should be online shortly.",
            "I have booked a technician to visit on Thursday morning between eight and twelve.",
            "I have ordered a new router for you, and it will arrive within two days.",
            "I have upgraded your line profile, so your internet speed should improve tonight.",
        ),
    },
    "delivery": {
        "problem": (
            "My parcel was supposed to arrive on Monday and it still hasn't come.",
            "The tracking page says my package was delivered, but there is nothing at my door.",
            "The courier left a card saying I wasn't home, but I was in all day.",
            "According to the tracking, my order has been stuck at the same depot for a week.",
            "The box I received was damaged and one of the items inside was missing.",
            "I ordered two packages, but only one of them was delivered.",
            "The delivery driver dropped my parcel off at the wrong address.",
        ),
        "question": (
            "Can you tell me where my parcel is right now?",
            "Why hasn't the tracking been updated since last Tuesday?",
            "Is it possible to change the delivery address for my order?",
            "Which courier company is handling my package?",
            "Could the driver leave the parcel with a neighbour if I'm not home?",
            "What happens if my package gets lost in transit?",
            "Can I pick up the parcel from the local depot myself?",
            "How many more days will the delivery take?",
            "Will I get a text message before the courier arrives?",
        ),
        "answer": (
            "Your parcel was sent to the wrong sorting centre, which is why it was delayed.",
            "The courier marked it as delivered, but the driver's location shows another street.",
            "A package with no tracking update for ten days is treated as lost.",
            "Our courier partner is running about two days behind because of the holidays.",
            "In the tracking app you can choose a safe place or a neighbour for the parcel.",
            "The depot keeps missed deliveries for seven days before sending them back to us.",
        ),
        "resolution": (
            "I have sent a replacement parcel by express courier, and it should arrive tomorrow.",
            "I have opened an investigation with the courier, and you will hear back in two days.",
            "I have updated the delivery address, so the driver brings the package to your work.",
            "I have arranged a refund for the item that was missing from your delivery.",
        ),
    },
    "password": {
        "problem": (
            "I can't log in to my account, it keeps saying my password is wrong.",
            "My account got locked after I typed the password incorrectly a few times.",
            "The password reset email never arrives in my inbox.",
            "The mobile app keeps signing me out and asking me to log in again.",
            "I forgot my password, and the security questions don't work either.",
            "The verification code for signing in never comes through on my phone.",
            "Since the last app update, I can't sign in with my usual username and password.",
        ),
        "question": (
            "How do I reset my password if I no longer have access to my old email?",
            "Can you unlock my account so I can sign in again?",
            "Why does the app say my login details are invalid?",
            "How many characters does a new password need to have?",
            "Is it possible to turn off the two step verification for my login?",
            "Could you send the password reset link to a different email address?",
            "How long does the account stay locked after too many failed login attempts?",
            "Do I need to update the app before I can log in again?",
            "Can I change my username as well as my password?",
        ),
        "answer": (
            "Your account was locked automatically after five failed login attempts.",
            "Reset emails sometimes land in the spam folder, so it's worth checking there.",
            "The old version of the app no longer supports sign in, so an update is needed.",
            "A new password needs ten characters or more, with a number and a capital letter.",
            "The verification codes go to the phone number on your account, which is out of date.",
            "For security reasons, the reset link only works for thirty minutes after it is sent.",
        ),
        "resolution": (
            "I have unlocked your account, so you can log in with your current password now.",
            "I have sent a new password reset link to your email address.",
            "I have updated your phone number, so the sign in codes will reach you from now on.",
            "I have signed you out on all devices, so please log in again with a new password.",
        ),
    },
    "cancellation": {
        "problem": (
            "I'd like to cancel my contract, because I'm moving abroad next month.",
            "I want to end my subscription when this month is over.",
            "I'm thinking about leaving you and switching to another provider.",
            "I sent a cancellation request two weeks ago, but my plan is still active.",
            "I would like to stop my membership and close the whole thing down.",
            "My contract renewed automatically, and I want to cancel before the new term starts.",
        ),
        "question": (
            "How long is the notice period on my contract?",
            "Will I have to pay an early termination fee if I cancel now?",
            "Can I cancel my subscription online, or does it have to be over the phone?",
            "When is the last day of my contract term?",
            "Can I leave before the minimum term of the contract is over?",
            "Is there a way to pause the subscription instead of cancelling it?",
            "Will I get written confirmation that my contract has ended?",
            "Do I need to send back the equipment after I leave?",
            "What happens to my personal data once the cancellation goes through?",
        ),
        "answer": (
            "Your contract has a thirty day notice period, so it would end on the twentieth.",
            "Since you're still in the minimum term, there is an early exit fee of fifty dollars.",
            "Moving abroad counts as a special case, so the termination fee does not apply.",
            "The cancellation request from two weeks ago was never processed because of a fault.",
            "Instead of leaving, you could also pause your subscription for up to three months.",
            "Once the contract ends, your personal data is deleted after ninety days.",
        ),
        "resolution": (
            "I have cancelled your contract, and it will end on the last day of this month.",
            "I have processed your cancellation and waived the early termination fee.",
            "I have sent written confirmation of the cancellation to your email address.",
            "I have stopped the automatic renewal, so your subscription ends with this term.",
        ),
    },
}

#: mood -> customer lines that carry the mood, not tied to a topic
MOOD_LINES: dict[str, dict[str, tuple[str, ...]]] = {
    "angry": {
        "opening": (
            "I'm really fed up, this is the third time I'm calling about this.",
            "Honestly, I'm furious, and I expect this to be sorted out today.",
            "I've been on hold for forty minutes, so I hope you can actually help me.",
            "Nobody called me back last time, even though I was promised a call.",
            "This is completely unacceptable, and I've had enough of your company.",
            "I'm very angry, I've already wasted hours of my time on this.",
            "Every time I call, I get passed around and nothing ever gets fixed.",
            "I've been with you for years and I've never been treated this badly.",
        ),
        "reaction": (
            "That's not good enough, I've been waiting for weeks.",
            "That's exactly what the last person told me, and nothing happened.",
            "Why should I believe that this time will be any different?",
            "So I'm supposed to just keep waiting? That's ridiculous.",
            "You people keep making promises and you never keep them.",
            "That doesn't help me at all, I needed this sorted days ago.",
            "I really can't believe it has taken this long to get an answer.",
        ),
        "closing": (
            "Fine. But I'm not happy about this at all.",
            "If this isn't fixed by Friday, I'm filing a formal complaint.",
            "I'll believe it when I see it. Goodbye.",
            "Okay, but I expect someone to actually call me back this time.",
            "Frankly, this whole experience has been a complete disaster.",
            "Right, I've wasted enough of my day on this already.",
            "I'm going to write a review about how badly this was handled.",
        ),
    },
    "neutral": {
        "opening": (
            "Hello, I'm calling about something I noticed recently.",
            "Hi, I have a quick question I was hoping you could help with.",
            "Good morning, I need some help with an issue I came across.",
            "Hello there, I'd like to report a problem, please.",
            "Hi, I'm calling to sort out a small issue.",
            "Good afternoon, I was told to call this number about my issue.",
            "Hello, I've got something I'd like to check with you.",
        ),
        "reaction": (
            "Okay, I see what you mean.",
            "Alright, let me write that down.",
            "Right, that makes sense, thanks for explaining.",
            "Okay, so what happens next?",
            "I understand, that sounds reasonable enough.",
            "Got it, I'll keep that in mind.",
            "Fair enough, I wasn't aware of that.",
        ),
        "closing": (
            "Okay, that's everything I needed, bye.",
            "Alright, thanks for your help, goodbye.",
            "No, that's all for today, thank you.",
            "Fine, I'll wait to hear from you then. Bye.",
            "Okay, I'll call back if anything changes.",
            "That covers it, thanks, have a good day.",
        ),
    },
    "happy": {
        "opening": (
            "Hi, I hope you're having a lovely day, I was hoping you could help me out.",
            "Hello! Thanks so much for picking up so quickly.",
            "Good morning! Your team has always been great, so I'm sure you can help.",
            "Hi, what a relief to get a real person, I'm glad to be talking to you.",
            "Hello, lovely to speak with you, I just have a small thing to sort out.",
            "Hi! You've always been so helpful before, so I thought I'd give you a ring.",
        ),
        "reaction": (
            "Oh that's wonderful, thank you so much!",
            "Brilliant, that's exactly what I was hoping to hear.",
            "Oh, how great, that makes things so much easier for me.",
            "Perfect, I really appreciate you explaining it so clearly.",
            "That's fantastic news, thank you for sorting it out so fast.",
            "Wow, you've made my day, that's really kind of you.",
        ),
        "closing": (
            "You've been a great help, thank you and have a lovely day!",
            "Thanks again, you've been absolutely brilliant, bye now!",
            "I'm so glad I called, thank you so much for everything.",
            "That's perfect, I really appreciate all your help today.",
            "Wonderful, thank you, you've made this really easy for me.",
            "Lovely, I'll definitely recommend you to my friends, goodbye!",
        ),
    },
}

#: agent lines not tied to a topic
AGENT_LINES: dict[str, tuple[str, ...]] = {
    "greeting": (
        "Thank you for calling, this is Anna, how can I help?",
        "Good morning, you're speaking with Mark from customer service, what can I do for you?",
        "Hello, my name is Sarah, how may I help you today?",
        "Thanks for holding, this is David, what seems to be the problem?",
        "Hi, you've reached the support team, my name is Lisa, how can I assist?",
        "Good afternoon, this is Tom speaking, what can I help you with today?",
    ),
    "verify": (
        "Could I have your full name and account number, please?",
        "Before we start, can you confirm the name on the account?",
        "May I ask for your account number so I can pull up your details?",
        "For security, please tell me your name and your date of birth.",
        "Can you give me the account holder's name and the postcode, please?",
    ),
    "acknowledge": (
        "I understand, let me look into that for you.",
        "Thank you for explaining, I can see why that would be frustrating.",
        "Let me check what's going on with your account.",
        "I'm sorry to hear that, one moment please while I check.",
        "Okay, thanks for the details, I'm pulling that up now.",
        "Bear with me for a second while I look at your records.",
        "That's a fair question, let me find out for you.",
    ),
    "closing": (
        "Is there anything else I can help you with today?",
        "Thank you for calling, and have a good day.",
        "If anything else comes up, just give us a call back.",
        "Thanks for your patience, enjoy the rest of your day.",
        "Is there anything more I can do for you before we finish?",
    ),
}

#: customer lines that answer verify (no mood)
CUSTOMER_VERIFY: tuple[str, ...] = (
    "Sure, it's Peter Brown, account two four six.",
    "Yes, my name is Maria Lopez and the account number is eight one three nine.",
    "It's James Carter, and my date of birth is the fourth of May, nineteen eighty two.",
    "The account is under Emily Clark, number five five zero seven.",
    "Of course, it's Daniel Wright, account three three one two.",
)
