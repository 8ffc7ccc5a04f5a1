"""A real browser for the console's end-to-end tests: Playwright for Python driving Debian's
chromium (Playwright's own browser download is not reachable here), headless.

- `require_browser()`: the reason no browser can be had skips the test, or fails it when
  HERALD_REQUIRE_BROWSER=1 (CI: `.ci/run` installs chromium and sets it).
- `open_browser()`: one chromium for a block (the `browser` fixture opens one per test module).
- `sign_in(page, suite)`: through the sign-in form, as a person does.
- `screenshot(page, name)`: the page as drawn, to `docs/console/<name>.png` when
  HERALD_SCREENSHOTS=1 (`make screenshots`), else to a folder of this test run — so an ordinary
  `make test` leaves the tracked pictures alone and no worktree is left dirty by a test run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("HERALD_CHROMIUM", "/usr/bin/chromium")
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
VIEWPORT = {"width": 1280, "height": 800}
PHONE_VIEWPORT = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000


def why_no_browser() -> str | None:
    """Why this machine cannot run the browser tests, or None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (it comes with the dev extra: make install)"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no chromium at {CHROMIUM} (apt-get install -y chromium, or HERALD_CHROMIUM=path)"
    return None


def require_browser() -> None:
    reason = why_no_browser()
    if reason is None:
        return
    if os.environ.get("HERALD_REQUIRE_BROWSER") == "1":
        pytest.fail(f"HERALD_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@contextmanager
def open_browser() -> Iterator:
    """A headless chromium; a launch failure skips (or, required, fails) naming the reason."""
    require_browser()
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []  # chromium refuses root without it
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        except Error as error:
            reason = f"chromium at {CHROMIUM} does not start: {str(error).splitlines()[0]}"
            if os.environ.get("HERALD_REQUIRE_BROWSER") == "1":
                pytest.fail(reason)
            pytest.skip(reason)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, suite, *, viewport: dict | None = None):
    """A fresh context (no cookies) on the suite's console."""
    context = browser.new_context(base_url=suite.console_url, viewport=viewport or VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def sign_in(page, suite, token: str | None = None) -> None:
    page.goto("/login")
    page.get_by_label("Admin token").fill(token or suite.admin_token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


_run_folder: Path | None = None


def screenshot_folder() -> Path:
    global _run_folder
    if os.environ.get("HERALD_SCREENSHOTS") == "1":
        return DOCS_SCREENSHOTS
    if _run_folder is None:
        _run_folder = Path(tempfile.mkdtemp(prefix="herald-console-screenshots-"))
    return _run_folder


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    """The page as drawn, as PNG; returns where it was written."""
    folder = screenshot_folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide")
    return path
