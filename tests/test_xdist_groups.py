"""The suite's shared study runs (tests/smallstudy.py, tests/realstudy.py) are made once only if
pytest-xdist really sends a group's tests to one worker: a pytest / xdist pair that ignores
`xdist_group` runs each study once per worker, doubling the suite's longest path."""

import pytest


@pytest.mark.xdist_group(name="smallstudy")
def test_grouped_tests_carry_their_group_under_loadgroup(request):
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("only meaningful under `-n N --dist loadgroup` (make test)")
    assert request.node.nodeid.endswith("@smallstudy"), (
        f"pytest-xdist did not tag {request.node.nodeid!r} with its group: the installed pytest and "
        "pytest-xdist disagree on node ids (see the pin in pyproject.toml)")
