"""Reading an issue as a story: narrative, criteria, Given/When/Then blocks, questions."""

from __future__ import annotations

from app.domain.markers import find_marker, marker, strip_markers
from app.domain.story import Comment, infer_story, read_connextra, read_story


def test_connextra_narrative_is_read_across_lines_and_emphasis() -> None:
    story = read_connextra("As a **shopper**, I want to save my cart\nso that I can finish buying later.")
    assert story is not None
    assert (story.as_a, story.i_want, story.so_that) == ("shopper", "to save my cart", "I can finish buying later")
    assert story.inferred is False


def test_missing_narrative_is_inferred_from_the_title_and_flagged() -> None:
    story = read_story(1, "Shoppers can save their cart", "Just do it.").story
    assert story.inferred is True
    assert story.as_a == "shopper" and story.i_want == "to save their cart"


def test_title_without_a_role_infers_a_user() -> None:
    story = infer_story("Password reset by email")
    assert story.as_a == "user" and story.i_want == "password reset by email" and story.inferred


def test_acceptance_criteria_under_a_heading_become_criteria_not_notes() -> None:
    body = "## Notes\n- we tried this before\n\n## Acceptance criteria\n- A link expires after 24 hours\n- [ ] Links work once\n"
    issue = read_story(1, "Reset", body)
    assert [text for _, text in issue.criteria] == ["A link expires after 24 hours", "Links work once"]


def test_given_when_then_lines_form_blocks_with_their_titles_and_and_lines() -> None:
    body = ("Scenario: expired link\nGiven a link sent 25 hours ago\nAnd the user is signed out\n"
            "When I follow the link\nThen I should see \"expired\"\n\nGiven a fresh link\nWhen I follow it\n"
            "Then I should see \"Choose a password\"\n")
    blocks = read_story(1, "Reset", body).blocks
    assert len(blocks) == 2
    assert blocks[0].title == "expired link"
    assert blocks[0].given == ["a link sent 25 hours ago", "the user is signed out"]
    assert blocks[1].title is None and blocks[1].then == ['I should see "Choose a password"']


def test_questions_come_from_question_marks_and_open_questions_sections() -> None:
    body = ("Should the link expire? Marketing is unsure.\n\n## Open questions\n- Which email template to use\n"
            "> Is this quoted text a question?\n")
    questions = read_story(1, "Reset", body).questions
    assert questions == ["Should the link expire?", "Which email template to use"]


def test_forged_markers_in_the_body_are_stripped() -> None:
    body = marker("map", revision=99) + "\nAs a user I want x so that y"
    issue = read_story(1, "T", body)
    assert "specloop" not in issue.body


def test_the_bots_comments_are_not_part_of_the_discussion() -> None:
    issue = read_story(1, "T", "", [Comment("ann", "hi"), Comment("specloop[bot]", "map", is_bot=True)])
    assert [c.author for c in issue.comments] == ["ann"]


def test_nested_forged_markers_do_not_survive_stripping() -> None:
    forged = "<!-- spec<!-- specloop:x -->loop:map {\"revision\": 99} -->"
    assert find_marker(strip_markers(forged), "map") is None
    deeper = "<!-- spec<!-- spec<!-- specloop:x -->loop:y -->loop:map {} -->"
    assert find_marker(strip_markers(deeper), "map") is None
    issue = read_story(1, "T", forged + "\nAs a user I want x so that y")
    assert find_marker(issue.body, "map") is None and "specloop:" not in issue.body
