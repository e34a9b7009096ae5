"""The words seed-scale writes: reflections' answers, feedback, session notes and agenda items."""

OPENINGS = ("On Sunday we talked on the phone for an hour.", "We had lunch together on Saturday.",
            "She came round after work on Wednesday.", "We walked the dog together.",
            "At my sister's birthday we sat next to each other.", "She texted me about the holidays.")
MIDDLES = ("I did not interrupt her, even when she brought up my job.",
           "The old argument about the move started and I let it go.",
           "I noticed my shoulders tense when she criticised my cooking.",
           "For a few minutes it felt easy, like years ago.",
           "I said what I wanted without raising my voice.",
           "I expected her to ask about my week; she did not, and I minded less than before.")
ENDINGS = ("I think she was surprised.", "I am not sure it changed anything yet.",
           "Afterwards I felt lighter.", "Later I felt guilty and do not know why.",
           "I want to try it again next week.", "It was harder than I expected.")
SHORT = ("A little, yes.", "Not really this time.", "More than last week.", "I am not sure.")
FEEDBACK = ("Thank you for trying this. Noticing that moment is a real start.",
            "This sounds hard. Let's talk about what made it difficult to stay calm.",
            "Well done for letting the argument go. What helped you do it?",
            "I can hear how tired you are. Go gently with yourself this week.")
SESSION_SUMMARIES = ("We looked at the old argument about the move and how often it comes back.",
                     "You noticed a good moment and stayed with it. We agreed on the next exercise.",
                     "We talked about the holidays and what a good-enough visit would look like.")
CLINICAL = ("Affect brighter. Resentment still high around holidays; revisit.",
            "Tearful when discussing the move. Check sleep next time.",
            "Engaged, good insight. Consider stepping down to fortnightly.")
AGENDA = ("How to answer when she brings up the wedding again.",
          "I felt guilty after Sunday and don't know why.", "Christmas plans.")
