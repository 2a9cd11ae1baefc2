"""What the demo is about: the repository, its people, alice's story and her answer to its question."""

from __future__ import annotations

from app.sandbox import demo_app

REPO = "acme/newsletter"
PEOPLE = {"alice": "admin", "bob": "write", "tina": "triage", "rita": "read"}  # login -> role on REPO
DEBOUNCE_SECONDS = 1.0  # conversation re-maps wait this long (30 s in production) to merge quick replies
PHASES = 8  # numbered phases; the terminal QA reports follow phase 7 without a heading of their own
STEP_TIMEOUT_S = 3  # per QA step; a local app answers in milliseconds, so a failing step fails fast

STORY_TITLE = "Visitors can subscribe to the newsletter"
# Written the way the offline mapper reads stories (app/domain/story.py): a Connextra line, an
# acceptance-criteria list (the rules), Given/When/Then scenarios in the web step vocabulary (the
# examples) and an "Open questions" section (the red card).
STORY_BODY = """\
As a visitor, I want to subscribe to the newsletter so that I hear about new releases.

## Acceptance criteria
- A valid email address is subscribed and thanked
- An invalid email address is refused with a message
- An address that is already subscribed is refused with a notice

## Examples
Scenario: the one where Ada subscribes with a valid address
Given I am on "/"
When I fill in "Email" with "ada@example.com"
And I press "Subscribe"
Then I should see "Thanks! ada@example.com is subscribed"

Scenario: the one with a typo in the address
Given I am on "/"
When I fill in "Email" with "ada.example.com"
And I press "Subscribe"
Then I should see "Please enter a valid email address"

Scenario: the one where Grace subscribes twice
Given I am on "/"
When I fill in "Email" with "grace@example.com"
And I press "Subscribe"
And I fill in "Email" with "grace@example.com"
And I press "Subscribe"
Then I should see "grace@example.com is already subscribed"

## Open questions
- Should an address that is already subscribed be refused with a notice, or accepted silently?
"""
# A reply naming the question's id is an answer the offline mapper recognises ("Q1: ...").
# The phases read it as `story.ANSWER` at run time, so a test can swap it for a reply that answers nothing.
ANSWER = "Q1: An address that is already subscribed is refused with a notice."


def repo_files() -> dict[str, str]:
    """The demo repository's first commit: the newsletter page WITHOUT the sign-up, its test, and the config.

    QA starts the branch's app itself (`qa.start`, in the sandbox) and code generation keeps the
    project's own tests green (`code.test`); the `code` limits keep a runaway agent short.
    """
    return {
        "README.md": "# Acme newsletter\n\nThe page for Acme's monthly newsletter: `python3 app.py` serves it on $PORT.\n",
        ".gitignore": "__pycache__/\n*.pyc\n",
        "app.py": demo_app.BEFORE,
        "tests/test_app.py": demo_app.APP_TEST,
        ".github/specloop.yml": (
            "# Specloop settings for this repository (read from the default branch)\n"
            "features_dir: features\n"
            "qa:\n"
            "  start: python3 app.py  # QA runs the branch's app in the sandbox; it listens on $PORT\n"
            "  ready_path: /\n"
            f"  timeout_ms: {STEP_TIMEOUT_S * 1000}  # how long a step may wait; the app runs locally\n"
            "code:\n"
            "  test: python3 -m unittest discover -s tests -q  # the project's own tests stay green\n"
            "  max_turns: 20\n"
            "  max_minutes: 10\n"
            "  max_usd: 2.0\n"
        ),
    }
