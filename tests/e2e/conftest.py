"""Fixtures of the end-to-end tests: the suite started as `herald up` starts it.

- `suite`: one running suite per test module (fresh data dir, free ports); tests in a module
  share it, so give each its own user ids and message ids. Stopped with SIGTERM at the end.
- `launch_suite`: a context manager factory for tests that need their own suite (restarts,
  killed children, a second start on the same data dir).
- `browser`: one headless chromium per test module (tests/e2e/browser.py: skipped saying why
  where none can be had, failed instead under HERALD_REQUIRE_BROWSER=1); `console_page`: a
  fresh browser context on the module's suite's console, signed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.e2e import browser as browsers
from tests.e2e.harness import Suite, launch


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Iterator[Suite]:
    with launch(tmp_path_factory.mktemp("suite")) as running:
        yield running


@pytest.fixture
def launch_suite(tmp_path) -> Callable[..., AbstractContextManager[Suite]]:
    runs = iter(range(1, 1000))

    def open_suite(*, data_dir: Path | None = None, **extra_env: str) -> AbstractContextManager[Suite]:
        return launch(tmp_path / f"run{next(runs)}", data_dir=data_dir or tmp_path / "var", **extra_env)

    return open_suite


@pytest.fixture(scope="module")
def browser():
    with browsers.open_browser() as opened:
        yield opened


@pytest.fixture
def console_page(browser, suite):
    page = browsers.new_page(browser, suite)
    browsers.sign_in(page, suite)
    yield page
    page.context.close()
