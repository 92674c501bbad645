"""Browser tests: Debian's Chromium driven by Playwright's sync API against pytest-django's live server.

Playwright's sync API runs an event loop in the test thread, so Django's "no ORM calls from async
code" guard has to be told that this is a test thread (the ORM calls here are the factories).
"""

import os
import re
from dataclasses import dataclass, field

import pytest

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PASSWORD = "correct horse battery"  # UserFactory's password

# Any CSP violation also reaches the console this way, whatever Chromium's own wording is.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("CSP violation: " + event.violatedDirective + " blocked " + (event.blockedURI || "inline"));
});
"""


@pytest.fixture(scope="session")
def browser():
    # Skips happen here, in a fixture, so that CI's OPSDESK_REQUIRE_ALL=1 turns them into failures.
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install playwright")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Console:
    """Console errors (CSP violations included) and uncaught exceptions seen by one browser context."""

    problems: list[str] = field(default_factory=list)

    def assert_clean(self, allow: tuple[str, ...] = ()):
        """`allow`: regular expressions for errors the test expects (a 422 answer logs one in Chromium)."""
        unexpected = [p for p in self.problems if not any(re.search(pattern, p) for pattern in allow)]
        assert not unexpected, "browser console errors:\n" + "\n".join(unexpected)


@pytest.fixture
def console():
    return Console()


@pytest.fixture
def new_page(browser, live_server, console):
    """`new_page()` -> a page in a fresh browser context (own cookies) whose console is watched."""
    contexts = []

    def make(viewport=None):
        context = browser.new_context(base_url=live_server.url, viewport=viewport or {"width": 1366, "height": 900})
        context.set_default_timeout(10_000)
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: message.type == "error" and console.problems.append(
            f"{page.url}: console.error: {message.text}"))
        page.on("pageerror", lambda error: console.problems.append(f"{page.url}: uncaught: {error}"))
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def log_in():
    """`log_in(page, user)`: through the login form, as a person would."""

    def do(page, user):
        page.goto("/accounts/login/")
        page.get_by_label("User name").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"^https?://[^/]+/$"))  # the dashboard
        return page

    return do
