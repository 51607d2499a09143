"""Subject kinds, the styles memories are written in, filler sentences and question frames."""

from __future__ import annotations

from msa.model.train.everyday.words import item_list, word_list

# kind: (weight when making a new subject, styles its memories are written in; repeats weight a style)
KINDS: dict[str, tuple[int, tuple[str, ...]]] = {
    "user": (0, ("plain", "plain", "note", "note", "terse", "chat", "chat", "diary")),
    "person": (30, ("plain", "plain", "note", "terse", "chat", "diary", "minutes")),
    "pet": (5, ("plain", "note", "terse", "chat", "diary")),
    "appliance": (4, ("plain", "note", "terse", "chat")),
    "project": (7, ("plain", "note", "terse", "chat", "minutes", "minutes", "commit")),
    "service": (8, ("plain", "note", "terse", "chat", "minutes", "commit", "commit")),
    "subscription": (5, ("plain", "note", "terse", "chat")),
    "trip": (5, ("plain", "note", "terse", "chat", "diary")),
    "vehicle": (4, ("plain", "note", "terse", "chat", "diary")),
    "course": (4, ("plain", "note", "terse", "chat", "diary")),
    "event": (5, ("plain", "note", "terse", "chat", "diary")),
    "place": (6, ("plain", "note", "terse", "chat", "diary")),
    "purchase": (5, ("plain", "note", "terse", "chat")),
    "appointment": (4, ("plain", "note", "terse", "chat", "diary")),
}
FIRST_PERSON_STYLES = ("chat", "diary", "minutes", "commit")  # written in the user's own voice

NEUTRAL_FILLERS = """It rained most of the afternoon.|Not urgent.|Mentioned in passing.|Worth double-checking later.|
This came up while planning the week.|Confirmed twice, so it should be right.|Low priority, but good to know.|
Long week overall.|Traffic was awful on the ring road.|Everyone seemed in a good mood.|
The power flickered twice in the evening.|Might change, will update.|Filed under admin.|
Came up in conversation over the weekend.|Someone asked about this before.|Sunny but cold today."""
FIRST_FILLERS = """I slept badly last night.|I'm tired but it was a decent day.|I really need a holiday.|
I went for a walk after lunch to clear my head.|I keep forgetting to call the bank.|I'm so behind on emails.|
Honestly I'm relieved that's sorted.|I should write more of this down.|My phone died halfway through the day.|
I feel a bit more organised now.|Stressful morning, calmer afternoon.|I need to remember this one."""
CHAT_OPENERS = "Anything else I should know?|What should I note down?|How can I help today?|Go ahead, I'm listening."
CHAT_ACKS = """Got it, I'll remember that.|Noted!|Thanks, saved to memory.|Okay, I've written that down.|Understood.|
Sure, I'll keep that in mind.|Thanks for letting me know.|Saved."""
MINUTES_FILLERS = """Attendance was thin because of the holidays.|Agreed to revisit next week.|
Nothing blocking right now.|Demo went fine.|Retro moved to Friday.|Action items to be shared in the doc.|
Budget discussion postponed."""
COMMIT_FILLERS = """Tests pass locally.|CI was flaky again; retried twice.|No schema changes.|Refs the cleanup epic.|
Reviewed by the platform team.|Follow-up PR to remove the old flag."""
FILLERS = {name: item_list(text) for name, text in {
    "neutral": NEUTRAL_FILLERS, "first": FIRST_FILLERS, "opener": CHAT_OPENERS, "ack": CHAT_ACKS,
    "minutes": MINUTES_FILLERS, "commit": COMMIT_FILLERS}.items()}
# Some questions come wrapped in chat ({q}: the question lower-cased where it starts with a question word).
FRAMES = ("Quick question: {q}", "Remind me: {q}", "Sorry, I've blanked. {Q}", "Can you look something up? {Q}",
          "Hey! {Q}", "{Q} Asking because I can't recall.", "{Q} I need it right now.", "Help me out here: {q}",
          "Out of curiosity, {q}", "One more thing: {q}", "{Q} Thanks in advance.", "Silly question, but {q}",
          "Okay, so {q}", "{Q} It slipped my mind.")
FRAME_SHARE = 0.4
QUESTION_STARTS = word_list("""
What What's Who Who's When When's Where Where's Which How Is Any If On Until By In At Whom
Why""")
NOTE_PREFIXES = ("", "", "Note: ", "Remember: ", "FYI: ", "Saved for later: ", "Memory: ", "To remember: ")
COMMIT_TYPES = ("fix", "feat", "chore", "ops", "docs", "build")
CHUNK_SIZES = (1, 1, 2, 2, 2, 3, 3, 4, 5)  # facts per memory
FILLER_COUNTS = (0, 0, 0, 1, 1, 2, 3)
