"""extract: LLM-assisted extraction of typed events from news, scored against a hand-labeled gold set."""
