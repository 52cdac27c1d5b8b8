"""The web page in a real browser: Debian's chromium driven by playwright, against `wsis serve` on
127.0.0.1 with the bundled index. Screenshots go to test-artifacts/screenshots/ (not committed)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--disable-quic"]
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")


@pytest.fixture(scope="module")
def server(built_index):
    from evaluation.localserver import start, stop

    env = {**os.environ, "WSIS_INDEX_DIR": str(built_index[0]), "WSIS_ASK_RATE_PER_MINUTE": "0"}
    proc, base = start(env, encoder_ready=False, output=subprocess.PIPE)
    yield base
    stop(proc)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()
    print(f"\nscreenshots written to {SHOTS}")


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = ctx.new_page()
    pg.dialogs = []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    yield pg
    ctx.close()


def test_type_a_query_and_see_results(server, page):
    page.goto(server + "/")
    page.fill("#q", "community networks spectrum")
    page.press("#q", "Enter")
    page.wait_for_selector(".card")
    assert "q=community+networks+spectrum" in page.url
    titles = page.locator(".card h3").all_inner_texts()
    assert any("Community" in t or "community" in t for t in titles)
    assert page.locator(".card mark").count() > 0
    assert page.locator("#timeline svg rect").count() > 0
    page.screenshot(path=str(SHOTS / "search.png"), full_page=True)


def test_facet_narrows_results_changes_url_and_back_works(server, page):
    page.goto(server + "/?q=training+teachers+digital+skills")
    page.wait_for_selector(".card")
    page.wait_for_function("() => /^\\d+ matching/.test(document.querySelector('#status').textContent)")
    before = page.locator("#status").inner_text()
    page.check("#f-kind-stocktaking_entry")
    page.wait_for_url("**kind=stocktaking_entry**")
    page.wait_for_function("() => [...document.querySelectorAll('.card .badge')].every(b => "
                           "!b.className.includes('role') ? b.textContent === 'Initiative' : true)")
    page.check("#f-action_line-C4")
    page.wait_for_url("**action_line=C4**")
    page.wait_for_function("before => { const t = document.querySelector('#status').textContent;"
                           " return /^\\d+ matching/.test(t) && t !== before; }", arg=before)
    chips = page.locator(".card").first.locator(".chip").all_inner_texts()
    assert "C4" in chips
    narrowed = int(page.locator("#status").inner_text().split()[0])
    assert narrowed < int(before.split()[0])
    page.go_back()
    page.wait_for_function("() => !location.search.includes('action_line')")
    page.wait_for_function("() => !document.querySelector('#f-action_line-C4').checked")
    assert page.is_checked("#f-kind-stocktaking_entry") and not page.is_checked("#f-action_line-C4")


def test_ask_streams_a_cited_answer_and_opens_a_citation(server, page):
    page.goto(server + "/?view=ask")
    page.fill("#question", "What did facilitators recommend on ICT statistics and indicators?")
    page.click("#ask-form button")
    page.wait_for_selector(".msg.bot[data-done]", timeout=60_000)
    assert page.locator(".msg.bot .sentence").count() >= 2
    assert page.locator(".msg.bot .cite").count() >= 2
    assert "Query run" in page.locator(".msg.bot .run").first.inner_text()
    page.screenshot(path=str(SHOTS / "chat.png"), full_page=True)
    sentence = page.locator(".msg.bot .sentence").first.inner_text()
    page.locator(".msg.bot .cite").first.click()
    page.wait_for_selector("#panel:not([hidden]) .focus")
    focus = page.locator("#panel .focus").inner_text()
    assert sentence.split(" [")[0].strip()[:40] in focus
    page.keyboard.press("Escape")
    assert page.locator("#panel").is_hidden()
    # a follow-up keeps the conversation; an off-topic question shows the abstention
    page.fill("#question", "What is the best recipe for chocolate cake?")
    page.click("#ask-form button")
    page.wait_for_selector(".msg.bot.abstained[data-done]", timeout=60_000)
    assert "do not cover" in page.locator(".msg.bot.abstained").inner_text()
    page.click("#new-conversation")
    assert page.locator(".msg").count() == 0


def test_script_in_a_document_is_shown_as_text(server, page):
    page.goto(server + "/?q=ethics+course+engineers+web+security")
    page.wait_for_selector(".card")
    card = page.locator(".card", has_text="<script>").first
    assert "<script>alert('xss')</script>" in card.inner_text()
    assert page.locator(".card script").count() == 0
    card.locator("h3 a").click()
    page.wait_for_selector("#doc h1")
    assert "<script>alert('xss')</script>" in page.locator("#doc").inner_text()
    assert page.locator("#doc script").count() == 0
    assert page.dialogs == []


def test_related_initiatives_and_action_lines_page(server, page):
    page.goto(server + "/?q=farmers+market+prices+SMS")
    page.wait_for_selector(".card")
    page.locator(".card button", has_text="Related initiatives").first.click()
    page.wait_for_selector("#panel:not([hidden]) li")
    text = page.locator("#panel").inner_text()
    assert "Stocktaking initiatives" in text and "similarity" in text
    page.keyboard.press("Escape")
    page.click("nav >> text=Action lines")
    page.wait_for_selector(".line-row")
    assert page.locator(".line-row").count() == 18
    assert "C11: International and regional cooperation" in page.locator("#lines").inner_text()


def test_phone_width(server, browser):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    pg = ctx.new_page()
    pg.goto(server + "/?q=e-health+telemedicine")
    pg.wait_for_selector(".card")
    width = pg.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 400  # no horizontal scrolling
    pg.screenshot(path=str(SHOTS / "search-phone.png"), full_page=False)
    ctx.close()
