"""QA execution: Chromium through Playwright, the built-in step actions, the runner and `specloop qa`.

The domain (`app.domain`) says what to run: step patterns and matching, the scenario plan, the results
and their reports. This package runs it: the browser, parallel contexts, evidence, project step files
in a child process with a scrubbed environment.
"""
