"""The words a reader sees when a signup is rejected, to the letter."""

NAME = "Please enter your name."
EMAIL = "Please enter a valid email address."
BANNER = "Something went wrong. Please check your entries and try again."
# Answers that are not about the entries, so they do not ask the reader to check them.
RATE_LIMITED = "Too many tries from your network. Please wait a minute and try again."
AGAIN = "Almost there: please press the button once more."
SUGGEST = "Did you mean {address}?"

# The name every consent records while the sentence beside the form is the shipped one
# (campaigns/content/pages.toml, `form.fine_print`); the coach's own is named by its content
# version (`signup.admission.form_version`). Bump it whenever the shipped sentence changes.
FORM_VERSION = "worksheet-2026-12"
