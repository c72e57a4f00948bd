"""Every `>>>` example in the package's docstrings runs and prints what it says (examples that need files or a
trained run are marked `# doctest: +SKIP`)."""

import doctest
import importlib
import pkgutil

import pytest

import semready

MODULES = sorted(m.name for m in pkgutil.walk_packages(semready.__path__, "semready.")
                 if ".sample" not in m.name)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_examples_are_found():
    """The parametrisation above is not empty and reaches the examples (not a check that cannot fail)."""
    counts = {name: doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS,
                                    verbose=False).attempted for name in ("semready.split.ranking",
                                                                          "semready.teacher.losses")}
    assert len(MODULES) > 40 and all(n > 0 for n in counts.values()), counts
