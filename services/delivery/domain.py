"""Delivery's timing rules live in herald_common.timing, shared with campaign's simulate (which
replays them without delivery): this module is that one under its old name."""

import sys

from herald_common import timing

sys.modules[__name__] = timing
