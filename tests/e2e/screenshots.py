"""Screenshots of the browser tests, for a person to look at: set OPSDESK_E2E_SCREENSHOTS to a folder and
every `shot(page, name)` writes `<folder>/<name>.png`. Without it, nothing is written."""

import os

SHOTS = os.environ.get("OPSDESK_E2E_SCREENSHOTS")


def shot(page, name: str, full_page: bool = True) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=full_page)
