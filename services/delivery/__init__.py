"""delivery: scheduled sends, their timing in each user's time zone, timers and providers."""
