"""A child that only sleeps: the runner's Stop test kills it mid-wait (`python -m tests.sleeper`)."""

import time

time.sleep(60)
