"""campaign: campaigns as code (trigger, filters, delay, window, message, goals), sends and conversions."""
