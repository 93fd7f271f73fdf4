"""Exercise checkers for the course notebooks, one module per topic.

Each ``check_*`` function raises ``AssertionError`` with a message that tells the learner what is
wrong (and a hint), and prints a short confirmation when the answer is right.
"""
