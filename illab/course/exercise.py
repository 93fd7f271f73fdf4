"""The one exercise pattern of the course.

Every exercise cell defines a function whose body starts as ``raise NotImplementedError`` and calls a
``check_*`` function from :mod:`illab.course`. The checker calls the learner's function through
:class:`Attempt`:

* still a stub (it raises ``NotImplementedError``): the checker says plainly that the exercise is
  **not attempted yet**, checks and returns the reference solution (:mod:`illab.course.solutions`)
  so the rest of the notebook runs — and never prints "correct";
* attempted and right: it prints "correct — ..." and returns the learner's function;
* attempted and wrong: it raises ``AssertionError`` with what is wrong and a hint (never a bare
  ``assert``, which ``python -O`` removes).
"""

from __future__ import annotations

from typing import Any, Callable

NOT_ATTEMPTED = ("{name}: not attempted yet — showing the reference solution so the rest of the notebook runs. "
                 "Replace `raise NotImplementedError` with your answer and run the cell again.")


class Attempt:
    """Calls the learner's ``fn``; falls back to ``reference`` for good once ``fn`` raises
    ``NotImplementedError`` (the stub).

    Args:
        fn: the learner's function.
        reference: the reference solution (same signature).
        name: the function's name as the notebook spells it (for the messages).
    """

    def __init__(self, fn: Callable, reference: Callable, name: str):
        if not callable(fn):
            raise AssertionError(f"{name} must be a function (def {name}(...): ...), got {type(fn).__name__}")
        self.fn, self.reference, self.name = fn, reference, name
        self.attempted = True

    def __call__(self, *args: Any) -> Any:
        if self.attempted:
            try:
                return self.fn(*args)
            except NotImplementedError:
                self.attempted = False
        return self.reference(*args)

    def fail(self, message: str) -> AssertionError:
        """The error to raise for a wrong answer; if the *reference* failed, that is a bug in illab."""
        if not self.attempted:
            return AssertionError(f"the reference solution of {self.name} failed its own check ({message}): "
                                  "please report this as a bug in illab.course")
        return AssertionError(f"{self.name}: {message}")

    def done(self, praise: str) -> Callable:
        """Print the verdict and return the function the notebook should go on with."""
        if self.attempted:
            print(f"{self.name}: correct — {praise}")
            return self.fn
        print(NOT_ATTEMPTED.format(name=self.name))
        return self.reference
