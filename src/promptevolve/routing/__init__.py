"""Which variant serves a call: sticky hash buckets and Thompson-sampling bandit weights (pure).

Import from the modules: ``promptevolve.routing.bandit`` (Thompson sampling weights, ``choose_arm``).
"""
