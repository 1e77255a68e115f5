#!/usr/bin/env python3
"""Opens one page in headless Chromium at phone size and reports what a consumer would see.

    browser.py URL SCREENSHOT.png [--tamper-bundle] [--timeout SECONDS]

Drives Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe: commands on fd 3,
answers on fd 4, each a JSON text ended by a NUL byte), standard library only. It loads URL in a
390 x 844 viewport (a phone), waits until the page's in-browser check has settled (the
`#tt-check` section's `data-state` is set) or the timeout passes, writes a screenshot of the
viewport to SCREENSHOT.png and prints one JSON object: the verdict shown, the check's state, its
status and detail lines, the page's title, and how many bytes of HTML were loaded.

With --tamper-bundle, the proof bundle the page fetches is altered in flight (the browser's own
request interception): one character of the first event's text is changed, as a server or proxy
between the log and the consumer might. The check must then fail.

Exit status: 0 when the report was printed (whatever it says), 2 on a usage error, 1 when the
browser could not be driven (no chromium, no answer, the page never settled).
"""

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}

# Resolves, once the page's check has settled (or after `limit` ms), to what the consumer sees.
SETTLED = """new Promise((resolve) => {
  const text = (selector) => Array.from(document.querySelectorAll(selector), (node) => node.textContent);
  const seen = () => {
    const check = document.getElementById('tt-check');
    const state = check && check.dataset.state;
    if (!state) return null;
    const verdict = document.querySelector('section.v:not(.recall)');
    const recall = document.querySelector('section.recall');
    return {
      state,
      recall: recall ? recall.querySelector('strong').textContent : null,
      status: document.getElementById('tt-status').textContent,
      details: text('#tt-details li'),
      verdict: verdict ? verdict.className.replace(/^v /, '') : null,
      headline: verdict ? verdict.querySelector('strong').textContent : null,
      title: document.title,
      html: document.documentElement.outerHTML.length,
    };
  };
  const now = seen();
  if (now) return resolve(now);
  const watch = new MutationObserver(() => {
    const settled = seen();
    if (settled) { watch.disconnect(); resolve(settled); }
  });
  watch.observe(document.documentElement, {attributes: true, childList: true, subtree: true});
  setTimeout(() => { watch.disconnect(); resolve(null); }, LIMIT);
})"""


class Browser:
    """One Chromium process and the DevTools session of its one page."""

    def __init__(self, binary, profile, deadline):
        to_browser_read, to_browser_write = os.pipe()
        from_browser_read, from_browser_write = os.pipe()

        def wire_pipes():
            # Out of the way first (above 9), then onto 3 and 4, which pass_fds keeps open.
            commands = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD, 10)
            answers = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD, 10)
            os.dup2(commands, 3)
            os.dup2(answers, 4)

        self.process = subprocess.Popen(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire_pipes,
            pass_fds=(3, 4),
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self.commands = os.fdopen(to_browser_write, "wb")
        self.answers = from_browser_read
        self.deadline = deadline
        self.buffer = b""
        # How much of the buffer is known to hold no NUL (not scanned again).
        self.scanned = 0
        self.next_id = 0
        self.answered = {}
        self.events = []
        self.session = None
        # Called with each Fetch.requestPaused event as it arrives (None: none expected).
        self.on_paused = None

    def send(self, method, params=None, session=True):
        """Sends one command and returns its result; events that arrive meanwhile are kept, and
        paused requests handled at once (the page may be waiting on one)."""
        self.next_id += 1
        sent = self.next_id
        message = {"id": sent, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        self.commands.write(json.dumps(message).encode() + b"\0")
        self.commands.flush()
        while sent not in self.answered:
            answer = self.read()
            if "id" in answer:
                self.answered[answer["id"]] = answer
            elif answer.get("method") == "Fetch.requestPaused" and self.on_paused:
                self.on_paused(self, answer["params"])
            else:
                self.events.append(answer)
        answer = self.answered.pop(sent)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def read(self):
        """The browser's next message, waiting no later than the deadline."""
        while b"\0" not in self.buffer[self.scanned :]:
            self.scanned = len(self.buffer)
            left = self.deadline - time.monotonic()
            ready, _, _ = select.select([self.answers], [], [], max(left, 0))
            if not ready:
                raise RuntimeError("the browser did not answer before the deadline")
            chunk = os.read(self.answers, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        self.scanned = 0
        return json.loads(message)

    def wait_for_event(self, method):
        """Waits for the event named `method` (taking it from those kept, if it came already)."""
        while True:
            for index, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(index)
            message = self.read()
            if message.get("method") == "Fetch.requestPaused" and self.on_paused:
                self.on_paused(self, message["params"])
            elif "id" in message:
                self.answered[message["id"]] = message
            else:
                self.events.append(message)

    def attach(self):
        targets = self.send("Target.getTargets", session=False)["targetInfos"]
        page = next(target for target in targets if target["type"] == "page")
        attached = self.send(
            "Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}, session=False
        )
        self.session = attached["sessionId"]

    def close(self):
        self.deadline = time.monotonic() + 10
        try:
            self.send("Browser.close", session=False)
        except (RuntimeError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.commands.close()
        os.close(self.answers)


def tampered(body):
    """The bundle with one character of its first event's text changed (a digit of its year)."""
    bundle = json.loads(body)
    text = bundle["events"][0]["event"]
    position = text.index('"eventTime"') + len('"eventTime":"') + 3
    changed = "1" if text[position] != "1" else "2"
    bundle["events"][0]["event"] = text[:position] + changed + text[position + 1 :]
    return json.dumps(bundle).encode()


def drive(binary, url, screenshot, tamper, timeout):
    profile = tempfile.mkdtemp(prefix="tagtrail-chromium-")
    browser = Browser(binary, profile, time.monotonic() + timeout)
    altered = []

    def alter(browser, paused):
        body = browser.send("Fetch.getResponseBody", {"requestId": paused["requestId"]})
        raw = base64.b64decode(body["body"]) if body["base64Encoded"] else body["body"].encode()
        browser.send(
            "Fetch.fulfillRequest",
            {
                "requestId": paused["requestId"],
                "responseCode": paused.get("responseStatusCode", 200),
                "responseHeaders": [
                    header
                    for header in paused.get("responseHeaders", [])
                    if header["name"].lower() != "content-length"
                ],
                "body": base64.b64encode(tampered(raw)).decode(),
            },
        )
        altered.append(paused["request"]["url"])

    try:
        browser.attach()
        browser.send("Emulation.setDeviceMetricsOverride", PHONE)
        if tamper:
            browser.on_paused = alter
            browser.send(
                "Fetch.enable",
                {"patterns": [{"urlPattern": "*/bundle", "requestStage": "Response"}]},
            )
        browser.send("Page.enable")
        navigated = browser.send("Page.navigate", {"url": url})
        if navigated.get("errorText"):
            raise RuntimeError(f"the page did not load: {navigated['errorText']} ({url})")
        browser.wait_for_event("Page.loadEventFired")
        # The page's own wait ends 10 s before the deadline: time left for the screenshot.
        left_ms = int(max(browser.deadline - time.monotonic() - 10, 1) * 1000)
        result = browser.send(
            "Runtime.evaluate",
            {
                "expression": SETTLED.replace("LIMIT", str(left_ms)),
                "awaitPromise": True,
                "returnByValue": True,
            },
        )["result"]
        report = result.get("value")
        if report is None:
            raise RuntimeError(f"the page's check did not settle within {timeout} s: {url}")
        if tamper and not altered:
            raise RuntimeError("the page fetched no bundle to alter")
        report["alteredBundles"] = altered
        # The whole page, at the phone's width.
        size = browser.send("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": PHONE["width"], "height": size["height"], "scale": 1}
        shot = browser.send(
            "Page.captureScreenshot",
            {"format": "png", "clip": clip, "captureBeyondViewport": True},
        )
        with open(screenshot, "wb") as file:
            file.write(base64.b64decode(shot["data"]))
        return report
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)


def main(arguments):
    tamper = "--tamper-bundle" in arguments
    arguments = [argument for argument in arguments if argument != "--tamper-bundle"]
    timeout = 60.0
    if "--timeout" in arguments:
        at = arguments.index("--timeout")
        try:
            timeout = float(arguments[at + 1])
        except (IndexError, ValueError):
            print(__doc__, file=sys.stderr)
            return 2
        del arguments[at : at + 2]
    if len(arguments) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    url, screenshot = arguments
    binary = os.environ.get("TAGTRAIL_CHROMIUM") or shutil.which("chromium")
    if not binary:
        print("no chromium: install Debian's chromium (scripts/test does)", file=sys.stderr)
        return 1
    try:
        report = drive(binary, url, screenshot, tamper, timeout)
    except Exception as error:  # noqa: BLE001 - any failure to drive the browser is reported, exit 1
        print(f"browser: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
