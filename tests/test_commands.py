"""Slash-command parsing: commands on plain lines count; code, inline code and quotes do not."""

from __future__ import annotations

from app.commands import Command, parse_commands, valid_command_name
from app.render.replies import unknown_command_reply


def test_a_command_on_its_own_line_is_parsed_with_its_arguments() -> None:
    assert parse_commands("Thanks!\n/specloop spec --regenerate\n") == [Command("spec", ["--regenerate"])]


def test_several_commands_in_one_comment_are_all_returned_in_order() -> None:
    body = "/specloop map\nsome words\n/specloop Status"
    assert [c.name for c in parse_commands(body)] == ["map", "status"]


def test_a_command_in_a_fenced_code_block_is_ignored() -> None:
    body = "Example:\n```\n/specloop code\n```\n~~~text\n/specloop qa\n~~~\n/specloop help"
    assert parse_commands(body) == [Command("help")]


def test_a_command_in_an_indented_code_block_is_ignored() -> None:
    assert parse_commands("Try this:\n\n    /specloop map\n") == []


def test_a_command_in_inline_code_is_ignored() -> None:
    assert parse_commands("Use `/specloop map` to re-map") == []
    assert parse_commands("`/specloop map`") == []


def test_a_quoted_command_is_not_obeyed() -> None:
    assert parse_commands("> /specloop code\n\nI disagree with the above") == []


def test_a_command_mid_sentence_is_not_a_command() -> None:
    assert parse_commands("please run /specloop map") == []


def test_a_bare_prefix_asks_for_help() -> None:
    assert parse_commands("/specloop") == [Command("help")]


def test_an_unclosed_fence_hides_everything_after_it() -> None:
    assert parse_commands("```\n/specloop map") == []


def test_empty_and_missing_bodies_have_no_commands() -> None:
    assert parse_commands(None) == []
    assert parse_commands("") == []


def test_similar_prefixes_are_not_commands() -> None:
    assert parse_commands("/specloopy map\n/spec map") == []


def test_command_names_are_letters_digits_and_dashes_up_to_twenty() -> None:
    assert valid_command_name("map") and valid_command_name("re-map2")
    assert not valid_command_name("x@victim")
    assert not valid_command_name("a`@victim")
    assert not valid_command_name("x" * 21)
    assert not valid_command_name("")


def test_an_unknown_command_reply_never_echoes_an_invalid_name() -> None:
    for name in ("x@victim", "a`@victim`", "`` @victim ``", "x" * 200):
        body = unknown_command_reply("alice", name)
        assert "victim" not in body and "xxxxxxxxxxxxxxxxxxxxxx" not in body
        assert "an unknown command" in body
        assert [line for line in body.splitlines() if "@" in line] == [line for line in body.splitlines()
                                                                        if line.startswith("@alice ")]


def test_an_unknown_command_reply_lists_several_names_once_each_in_one_reply() -> None:
    body = unknown_command_reply("alice", "frob\nblah\ncode\n?")
    assert "`/specloop frob`" in body and "`/specloop blah`" in body
    assert "`/specloop code` works on spec pull requests" in body
    assert "an unknown command" in body
    assert body.count("@alice") == 1


def test_a_legacy_sentence_detail_is_not_echoed() -> None:
    body = unknown_command_reply("alice", "`/specloop x` works on @victim, not here")
    assert "victim" not in body


def test_an_unclosed_html_comment_hides_everything_after_it() -> None:
    # GitHub hides the rest of the body after an unclosed "<!--": what readers cannot see is not obeyed
    assert parse_commands("Looks fine <!-- \n/specloop code\n") == []
    assert parse_commands("/specloop help\n<!-- a <!-- b --> -->\n/specloop map\n<!--\n/specloop qa") == [
        Command("help"), Command("map")]
