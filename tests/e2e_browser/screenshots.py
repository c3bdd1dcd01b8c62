"""``make screenshots``: the worklist and a subject's page, on a laptop and a tablet.

Runs the same seeded server as the browser tests and writes PNG files to screenshots/
(git-ignored) so the pages can be looked at without running anything else.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from tests.e2e_browser.harness import (
    CHROMIUM,
    LAPTOP,
    LAUNCH_ARGS,
    ROOT,
    TABLET,
    chromium_missing,
    running_server,
    seeded_database,
)

OUT = ROOT / "screenshots"


def sign_in(page: Page, base: str, token: str) -> None:
    page.goto(f"{base}/signin")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in with the token").click()
    page.wait_for_url(f"{base}/worklist")


def main() -> int:
    missing = chromium_missing()
    if missing:
        print(missing, file=sys.stderr)
        return 1
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url, seeded = seeded_database(Path(tmp))
        with running_server(url, Path(tmp) / "server.log") as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            try:
                for device, viewport in (("laptop", LAPTOP), ("tablet", TABLET)):
                    context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
                    page = context.new_page()
                    sign_in(page, base, seeded.coordinator)
                    shots = {
                        "worklist": "/worklist",
                        "subject": f"/studies/UCART-SLE/subjects/{seeded.own_subject}",
                        "record": f"/studies/UCART-SLE/subjects/{seeded.own_subject}"
                                  "/visits/D28/record",
                        "study": "/studies/UCART-SLE",
                        "anchor": f"/studies/UCART-SLE/subjects/{seeded.own_subject}"
                                  "/anchors/infusion",
                        "unscheduled": f"/studies/UCART-SLE/subjects/{seeded.own_subject}"
                                       "/visits/new",
                    }
                    for name, path in shots.items():
                        page.goto(base + path)
                        target = OUT / f"{name}-{device}.png"
                        page.screenshot(path=str(target), full_page=True)
                        print(target.relative_to(ROOT))
                    context.close()
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
