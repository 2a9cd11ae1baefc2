"""tests/sample_app/features/shop.feature written by hand as plain pytest-playwright tests."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect


@pytest.mark.parametrize("name", ["Ann"])
def test_signing_up_with_the_classic_web_steps(page: Page, base_url: str, name: str) -> None:
    page.goto(base_url + "/signup")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Plan").select_option(label="Pro")
    page.get_by_label("I accept the terms").check()
    page.get_by_label("Send me news").uncheck()
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Welcome, Ann!")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/welcome(\?.*)?$"))
    expect(page).to_have_url(re.compile("plan=Pro"))
    expect(page.get_by_text("news: on")).to_have_count(0)


def test_signing_up_by_filling_in_the_form_from_a_table(page: Page, base_url: str) -> None:
    page.goto(base_url + "/signup")
    page.get_by_label("Name").fill("Bob")
    page.get_by_label("Email").fill("bob@example.com")
    page.get_by_placeholder("Your city").fill("Lyon")
    page.get_by_label("About you").fill("I like green tea.\nAnd black tea.")
    expect(page.get_by_label("Name")).to_have_value("Bob")
    expect(page.get_by_placeholder("Your city")).to_have_value("Lyon")
    expect(page.get_by_label("Send me news")).to_be_checked()
    expect(page.get_by_label("I accept the terms")).not_to_be_checked()
    page.get_by_role("button", name="Create account").click()
    details = page.get_by_role("list", name="Your details").get_by_role("listitem")
    expect(details.filter(has_text="city: Lyon")).to_be_visible()
    expect(details.filter(has_text="name: Bob")).to_be_visible()


@pytest.mark.parametrize(("name", "plan"), [("Cy", "Free"), ("Di", "Team")])
def test_every_plan_can_be_chosen(page: Page, base_url: str, name: str, plan: str) -> None:
    page.goto(base_url + "/signup")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Plan").select_option(label=plan)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("list", name="Your details").get_by_text(f"plan: {plan}")).to_be_visible()


def test_browsing_products_from_the_home_page(page: Page, base_url: str) -> None:
    page.goto(base_url + "/")
    expect(page.get_by_role("region", name="News").get_by_text("Spring sale")).to_be_visible()
    expect(page.get_by_role("region", name="Help").get_by_text("Spring sale")).to_have_count(0)
    expect(page.get_by_text("Secret hidden text").filter(visible=True)).to_have_count(0)
    page.get_by_role("link", name="Products").click()
    expect(page).to_have_url(re.compile(r"/products$"))
    table = page.get_by_role("table", name="Products")
    for cells in (["Name", "Price"], ["Tea", "3.50"], ["Cocoa", "2.80"]):
        row = table.get_by_role("row")
        for cell in cells:
            row = row.filter(has_text=cell)
        expect(row.first).to_be_visible()
    items = page.get_by_role("list", name="Categories").get_by_role("listitem")
    expect(items.filter(has_text="Coffee")).to_be_visible()
    expect(items.filter(has_text="Cocoa")).to_be_visible()


def test_searching_with_the_keyboard(page: Page, base_url: str) -> None:
    page.goto(base_url + "/search")
    page.get_by_placeholder("Search products").fill("green tea")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Results for green tea")).to_be_visible()
    expect(page).to_have_url(re.compile(r"q=green\+tea"))


def test_clicking_buttons_and_waiting_for_slow_text(page: Page, base_url: str) -> None:
    page.goto(base_url + "/")
    page.get_by_role("button", name="Say hello").click()
    expect(page.get_by_text("Clicked!")).to_be_visible()
    page.goto(base_url + "/slow")
    expect(page.get_by_text("Loaded at last")).to_be_visible(timeout=15000)
    page.get_by_role("link", name="Search").click()
    expect(page).to_have_url(re.compile(r"/search$"))
