"""The old name of the pause gate, `campaigns.gate`: the very same module under both names,
kept so code written against `campaigns.sending` runs unchanged until it moves."""

import sys

from campaigns import gate

sys.modules[__name__] = gate
