"""The words a reader sees when a signup is rejected, to the letter."""

NAME = "Please enter your name."
EMAIL = "Please enter a valid email address."
BANNER = "Something went wrong. Please check your entries and try again."
# Answers that are not about the entries, so they do not ask the reader to check them.
RATE_LIMITED = "Too many tries from your network. Please wait a minute and try again."
AGAIN = "Almost there: please press the button once more."
SUGGEST = "Did you mean {address}?"

# The name every consent records while the sentence beside the form reads as shipped
# (campaigns/content/pages.toml, `form.fine_print`, filled from the shipped sequence): this
# sentence. Any other is named by the content it was made from
# (`signup.admission.form_version`). Bump it whenever the shipped sentence changes.
FORM_VERSION = "worksheet-2026-12"
FORM_SENTENCE = (
    "I'll email you the worksheet, and now and then (three times at most) ask whether you've "
    "started a new job. Once you tell me your start date, three short notes follow, 1, 3 "
    "and 6 months in. Unsubscribe any time."
)
