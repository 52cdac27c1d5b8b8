"""The web page in a real browser: Debian's chromium driven by playwright, against `wsis serve` on
127.0.0.1 with the bundled index. Every page records its console: an error there (a script error, a
resource that fails, anything the page's Content-Security-Policy blocks) fails the test. Accessibility is
checked with axe-core (tests/vendor/axe.min.js, pinned, injected by the test; never served by the app).
Screenshots at 1300 px and 375 px go to test-artifacts/screenshots/ (not committed)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--disable-quic"]
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
WIDE, PHONE = {"width": 1300, "height": 900}, {"width": 375, "height": 812}

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")


@pytest.fixture(scope="module")
def server(built_index):
    from evaluation.localserver import start, stop

    env = {**os.environ, "WSIS_INDEX_DIR": str(built_index[0]), "WSIS_ASK_RATE_PER_MINUTE": "0"}
    proc, base = start(env, encoder_ready=True, output=subprocess.PIPE)  # close matches need the encoder
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


def new_page(browser, viewport, **kw):
    ctx = browser.new_context(viewport=viewport, **kw)
    pg = ctx.new_page()
    pg.dialogs, pg.errors = [], []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.on("console", lambda m: pg.errors.append(f"console: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(f"page error: {e}"))
    return ctx, pg


@pytest.fixture
def page(browser):
    ctx, pg = new_page(browser, WIDE)
    yield pg
    errors = list(pg.errors)
    ctx.close()
    assert errors == [], f"console errors on the page: {errors}"


@pytest.fixture
def phone(browser):
    ctx, pg = new_page(browser, PHONE, is_mobile=True, has_touch=True)
    yield pg
    errors = list(pg.errors)
    ctx.close()
    assert errors == [], f"console errors on the page: {errors}"


def shot(pg, name):
    pg.screenshot(path=str(SHOTS / f"{name}-{pg.viewport_size['width']}.png"), full_page=True)


def axe_violations(pg) -> list[str]:
    """Serious and critical axe-core violations of the page as it is now. The page's CSP forbids inline
    scripts (add_script_tag would be blocked, and reported as a console error), so axe is evaluated
    through the DevTools protocol, which the page's CSP does not govern."""
    if not pg.evaluate("() => typeof window.axe === 'object'"):
        pg.evaluate(AXE.read_text() + "\n;undefined")
    found = pg.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ["violations"]});
        return r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
          .map(v => `${v.impact} ${v.id}: ${v.help} -- ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | ")}`);
    }""")
    return found


def params(pg) -> dict[str, list[str]]:
    return parse_qs(urlparse(pg.url).query)


def wait_status(pg, pattern: str):
    pg.wait_for_function("re => new RegExp(re).test(document.querySelector('#status').textContent)", arg=pattern)


# ------------------------------------------------------------------ search


def test_type_a_query_and_see_results_one_card_per_document(server, page):
    page.goto(server + "/")
    page.fill("#q", "community networks spectrum")
    page.press("#q", "Enter")
    page.wait_for_selector(".card")
    assert "q=community+networks+spectrum" in page.url
    wait_status(page, r"^\d+ documents")
    titles = page.locator(".card h3").all_inner_texts()
    assert any("community" in t.lower() for t in titles)
    assert page.locator(".card mark").count() > 0
    docs = page.eval_on_selector_all(".card h3 a", "as => as.map(a => new URL(a.href).searchParams.get('doc'))")
    assert len(docs) == len(set(docs)), "one card per document"
    # the count says what it counts: documents, close matches, and the passages sharing a word
    status = page.locator("#status").inner_text()
    assert re.match(r"^\d+ documents, \d+ of them with close matches \(\d+ passages\)", status), status
    assert "share a word with the query" in page.locator("#status-note").inner_text()
    assert page.locator("#timeline svg a.bar").count() > 0
    assert page.locator("#facet-scope").inner_text() == "Counts among the matching passages"
    shot(page, "search")


def test_grouped_results_unfold_in_place_and_the_flat_list_is_a_toggle(server, page):
    page.goto(server + "/?q=community+networks")
    page.wait_for_selector(".card .more-toggle")
    card = page.locator(".card", has=page.locator(".more-toggle")).first
    toggle = card.locator(".more-toggle")
    n = int(re.match(r"(\d+) more passages? in this document", toggle.inner_text()).group(1))
    assert toggle.get_attribute("aria-expanded") == "false" and card.locator(".more").is_hidden()
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    more = card.locator(".more > li")
    assert more.first.is_visible() and more.count() >= min(n, 1)
    assert card.locator(".more .snippet").first.inner_text().strip()
    doc = urlparse(card.locator("h3 a").get_attribute("href")).query
    assert all(parse_qs(doc)["doc"] == parse_qs(urlparse(a).query)["doc"]
               for a in card.locator(".more > li > a").evaluate_all("as => as.map(a => a.href)"))
    shot(page, "search-unfolded")
    toggle.press("Enter")  # keyboard folds it again
    assert toggle.get_attribute("aria-expanded") == "false" and card.locator(".more").is_hidden()
    grouped_docs = page.locator(".card").count()
    page.check("#grouping input[value=passage]")
    page.wait_for_url("**flat=1**")
    wait_status(page, r"^\d+ matching passages")
    assert page.locator(".card .more-toggle").count() == 0
    assert page.locator(".card").count() >= grouped_docs
    page.go_back()
    wait_status(page, r"^\d+ documents")
    assert page.is_checked("#grouping input[value=document]")


def test_facets_before_a_search_count_the_whole_corpus(server, page):
    page.goto(server + "/")
    wait_status(page, r"holds \d+ passages in \d+ documents")
    passages = int(re.search(r"holds ([\d,]+) passages", page.locator("#status").inner_text()).group(1).replace(",", ""))
    counts = lambda key: [int(t.replace(",", "") or 0) for t in page.locator(f"#facet-{key} .count").all_inner_texts()]
    assert sum(counts("kind")) == passages
    assert sum(counts("role")) == passages
    assert sum(1 for c in counts("kind") if c > 0) >= 3 and sum(1 for c in counts("action_line") if c > 0) >= 11
    assert page.locator("#facet-scope").inner_text() == "Counts in the whole record"
    assert page.locator("#timeline svg a.bar").count() > 0
    shot(page, "home")
    # a filter without a query lists its passages, most recent first, and the counts follow it
    page.check("#f-action_line-C5")
    page.wait_for_url("**action_line=C5**")
    wait_status(page, r"^\d+ passages in \d+ documents")
    assert page.locator("#facet-scope").inner_text() == "Counts in this selection"
    n = int(page.locator("#status").inner_text().split()[0])
    assert 0 < n < passages and int(page.locator("label[for=f-action_line-C5] .count").inner_text()) == n
    years = [int(y) for y in page.locator(".card .meta > span:nth-child(2)").all_inner_texts() if y.isdigit()]
    assert years == sorted(years, reverse=True)


def test_facet_narrows_results_changes_url_and_back_works(server, page):
    page.goto(server + "/?q=training+teachers+digital+skills")
    page.wait_for_selector(".card")
    wait_status(page, r"^\d+ documents")
    before = page.locator("#status").inner_text()
    page.check("#f-kind-stocktaking_entry")
    page.wait_for_url("**kind=stocktaking_entry**")
    page.wait_for_function("() => [...document.querySelectorAll('.card .badge')].every(b => "
                           "!b.className.includes('role') ? b.textContent === 'Initiative' : true)")
    page.check("#f-action_line-C4")
    page.wait_for_url("**action_line=C4**")
    page.wait_for_function("before => { const t = document.querySelector('#status').textContent;"
                           " return /^\\d+ documents/.test(t) && t !== before; }", arg=before)
    chips = page.locator(".card").first.locator(".chip").all_inner_texts()
    assert any(c.startswith("C4") for c in chips)
    narrowed = int(page.locator("#status").inner_text().split()[0])
    assert narrowed < int(before.split()[0])
    page.go_back()
    page.wait_for_function("() => !location.search.includes('action_line')")
    page.wait_for_function("() => !document.querySelector('#f-action_line-C4').checked")
    assert page.is_checked("#f-kind-stocktaking_entry") and not page.is_checked("#f-action_line-C4")


def test_timeline_has_axes_values_hover_counts_and_a_click_filters_by_year(server, page):
    page.goto(server + "/?q=internet+access")
    page.wait_for_selector("#timeline svg a.bar")
    chart = page.locator("#timeline svg")
    assert chart.locator(".y-axis text").count() >= 3 and chart.locator(".x-axis text").count() >= 2
    bars = chart.locator("a.bar")
    values = [int(v.replace(",", "")) for v in bars.locator(".val").all_text_contents()]  # SVG: no innerText
    assert len(values) == bars.count() and all(v > 0 for v in values)
    bar = bars.nth(bars.count() - 1)
    year = re.match(r"(\d{4}):", bar.get_attribute("aria-label")).group(1)
    bar.hover()
    readout = page.locator("#timeline .readout").inner_text()
    assert readout.startswith(f"{year}: {values[-1]:,} passages"), readout
    bar.click()
    page.wait_for_url(f"**year_to={year}**")
    assert params(page)["year_from"] == [year] and params(page)["q"] == ["internet access"]
    page.wait_for_function("y => document.querySelectorAll('.card').length > 0 && [...document.querySelectorAll("
                           "'.card .meta')].every(m => m.textContent.includes(y))", arg=year)
    assert page.locator("#timeline a.bar.selected").count() == 1
    page.click("text=Show all years")
    page.wait_for_function("() => !location.search.includes('year_from')")
    # the keyboard reaches a bar and Enter follows it
    page.wait_for_selector("#timeline svg a.bar")
    page.focus("#timeline svg a.bar >> nth=0")
    first_year = re.match(r"(\d{4}):", page.locator("#timeline svg a.bar").first.get_attribute("aria-label")).group(1)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**year_from={first_year}**")


# ------------------------------------------------------------------ the action-line dashboard


def test_dashboard_of_c5_timeline_cited_recommendations_and_clickable_numbers(server, page):
    page.goto(server + "/?view=lines")
    page.wait_for_selector(".line-row")
    assert page.locator(".line-row").count() == 18
    assert "C11: International and regional cooperation" in page.locator("#lines").inner_text()
    assert "Facilitators: UNDESA" in page.locator(".line-row", has_text="C11:").locator(".meta").first.inner_text()
    shot(page, "action-lines")
    page.click("text=C5: Building confidence and security in the use of ICTs")
    page.wait_for_selector("#dashboard h1")
    assert params(page) == {"view": ["line"], "code": ["C5"]}
    assert page.locator("#dashboard h1").inner_text().startswith("C5: Building confidence")
    assert "cybersecurity" in page.locator(".line-text").inner_text()
    assert page.locator("#dashboard .facilitators .chip").all_inner_texts() == ["ITU"]
    # two timelines (by role, by kind) with bars
    charts = page.locator("#dashboard figure.chart")
    assert charts.count() == 2 and charts.nth(0).locator("a.bar").count() > 0 and charts.nth(1).locator("a.bar").count() > 0
    assert "by role" in charts.nth(0).locator("figcaption").inner_text()
    # the most recent recommendations, each cited: a quote and where it comes from, linked to the passage
    recs = page.locator(".recent-recommendation .cited")
    assert recs.count() >= 1
    first = recs.first
    assert first.locator("blockquote").inner_text().strip()
    cite = first.locator(".citation a")
    assert re.search(r"\((Report|IGF session|Initiative|Reference), \d{4}\)", cite.inner_text()), cite.inner_text()
    assert "p=" in cite.get_attribute("href") and "view=doc" in cite.get_attribute("href")
    assert page.locator(".recent-challenge .cited").count() >= 1
    page.wait_for_selector(".initiatives .problem-group, .initiatives .ungrouped")
    assert page.locator(".sessions .session-list li").count() >= 1
    shot(page, "dashboard-C5")
    # a session's count opens the session at its passage on the line
    page.locator(".sessions .session-list li").first.locator("a.ctx-link").click()
    page.wait_for_selector("#doc h1")
    assert page.locator("#doc .focus").count() >= 1 and params(page)["p"]
    page.go_back()
    page.wait_for_selector(".stat-recommendation dd a")
    # a number is a link into the passages it counts
    stat = page.locator(".stat-recommendation dd a")
    n = int(stat.inner_text())
    stat.click()
    page.wait_for_url("**role=recommendation**")
    assert params(page) == {"action_line": ["C5"], "role": ["recommendation"]}
    wait_status(page, rf"^{n} passages in \d+ documents")
    assert all(b == "recommendation" for b in page.locator(".card .meta .badge[class*=role-]").all_inner_texts())
    page.go_back()
    # a bar of the role timeline filters by that year, within the line
    page.wait_for_selector("#dashboard figure.chart a.bar")
    bar = page.locator("#dashboard figure.chart").first.locator("a.bar").last
    year = re.match(r"(\d{4}):", bar.get_attribute("aria-label")).group(1)
    total = int(bar.locator(".val").text_content().replace(",", ""))
    bar.click()
    page.wait_for_url(f"**year_to={year}**")
    assert params(page)["action_line"] == ["C5"] and params(page)["year_from"] == [year]
    wait_status(page, r"^\d+ passages")
    assert int(page.locator("#status").inner_text().split()[0]) >= total


def test_dashboard_table_cells_and_sessions_are_links(server, page):
    page.goto(server + "/?view=line&code=C5")
    page.wait_for_selector("#dashboard figure.chart")
    page.locator("#dashboard .chart-table summary").first.click()
    cell = page.locator("#dashboard .chart-table").first.locator("td a").first
    assert cell.is_visible()
    n = int(cell.inner_text())
    cell.click()
    page.wait_for_url("**year_from=**")
    assert params(page)["role"] and params(page)["action_line"] == ["C5"]
    wait_status(page, rf"^{n} passages? in")
    page.goto(server + "/?view=line&code=c99")
    page.wait_for_selector("#dashboard h1")
    assert page.locator("#dashboard h1").inner_text() == "Action line not found"
    page.errors.clear()  # the 404 of the API call is the expected outcome here


# ------------------------------------------------------------------ ask, document, related


def test_ask_streams_a_cited_answer_and_opens_a_citation(server, page):
    page.goto(server + "/?view=ask")
    page.fill("#question", "What did facilitators recommend on ICT statistics and indicators?")
    page.click("#ask-form button")
    page.wait_for_selector(".msg.bot[data-done]", timeout=60_000)
    assert page.locator(".msg.bot .sentence").count() >= 2
    assert page.locator(".msg.bot .cite").count() >= 2
    assert "Query run" in page.locator(".msg.bot .run").first.inner_text()
    shot(page, "ask")
    assert axe_violations(page) == []
    sentence = page.locator(".msg.bot .sentence").first.inner_text()
    opener = page.locator(".msg.bot .cite").first
    opener.click()
    page.wait_for_selector("#panel:not([hidden]) .focus")
    focus = page.locator("#panel .focus").inner_text()
    assert sentence.split(" [")[0].strip()[:40] in focus
    assert axe_violations(page) == []
    page.keyboard.press("Escape")
    assert page.locator("#panel").is_hidden()
    assert page.evaluate("() => document.activeElement.classList.contains('cite')")  # focus goes back
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


def test_related_initiatives_panel(server, page):
    page.goto(server + "/?q=farmers+market+prices+SMS")
    page.wait_for_selector(".card")
    page.locator(".card button", has_text="Related initiatives").first.click()
    page.wait_for_selector("#panel:not([hidden]) li")
    text = page.locator("#panel").inner_text()
    assert "Stocktaking initiatives" in text and "similarity" in text
    page.keyboard.press("Escape")
    assert page.locator("#panel").is_hidden()


# ------------------------------------------------------------------ accessibility and phones


VIEWS = {
    "home": ("/", "#timeline svg"),
    "search": ("/?q=community+networks", ".card .more-toggle"),
    "browse": ("/?action_line=C5&role=recommendation", ".card"),
    "document": (None, "#doc .doc-related h2"),
    "dashboard": ("/?view=line&code=C5", ".initiatives .problem-group, .initiatives .ungrouped"),
    "lines": ("/?view=lines", ".line-row"),
    "ask": ("/?view=ask", "#question"),
}


def open_view(server, pg, name):
    url, ready = VIEWS[name]
    if name == "document":
        pg.goto(server + "/?q=community+networks")
        pg.wait_for_selector(".card h3 a")
        url = pg.locator(".card h3 a").first.get_attribute("href")
    pg.goto(server + url)
    pg.wait_for_selector(ready)
    pg.wait_for_load_state("networkidle")


@pytest.mark.parametrize("name", list(VIEWS))
def test_no_serious_accessibility_violations(server, page, name):
    open_view(server, page, name)
    if name == "search":
        page.locator(".card .more-toggle").first.click()
        page.locator("#timeline details summary").click()
    if name == "dashboard":
        page.locator("#dashboard .chart-table summary").first.click()
    assert axe_violations(page) == []
    if name == "document":
        shot(page, "document")


def test_keyboard_reaches_the_controls_with_a_visible_focus(server, page):
    page.goto(server + "/?q=community+networks")
    page.wait_for_selector(".card .more-toggle")
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("() => document.activeElement.className") == "skip"
    seen = set()
    for _ in range(60):
        page.keyboard.press("Tab")
        info = page.evaluate("""() => { const a = document.activeElement; const s = getComputedStyle(a);
            return {id: a.id, cls: (a.getAttribute('class') || ''), tag: a.tagName.toLowerCase(),
                    outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2}; }""")
        seen.add(info["tag"] + "." + info["cls"].split()[0] if info["cls"] else info["tag"] + "#" + info["id"])
        if info["tag"] in ("a", "button", "input") and not info["cls"].startswith("bar"):
            assert info["outline"], f"no visible focus on {info}"
    assert "input#q" in seen and any(s.startswith("input#f-") for s in seen), seen
    assert any(s.startswith("a.bar") for s in seen), seen  # the timeline's bars are in the tab order


@pytest.mark.parametrize("name", ["search", "dashboard", "document", "ask", "home"])
def test_phone_width(server, phone, name):
    open_view(server, phone, name)
    if name == "ask":
        phone.fill("#question", "What did facilitators recommend on ICT statistics and indicators?")
        phone.click("#ask-form button")
        phone.wait_for_selector(".msg.bot[data-done]", timeout=60_000)
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 375, f"{name} scrolls sideways at 375 px ({width} px)"
    # nothing is cut off: no element sticks out of the viewport on the right
    # (inside a box that scrolls on its own, such as a wide table, is fine; so is a closed <details>)
    wide = phone.evaluate("""() => [...document.querySelectorAll('main *')].filter(e => {
        const r = e.getBoundingClientRect();
        if (!(r.width > 0 && r.right > innerWidth + 1) || e.closest('details:not([open]) > :not(summary)')) return false;
        for (let p = e.parentElement; p; p = p.parentElement) {
          if (['auto', 'scroll'].includes(getComputedStyle(p).overflowX)) return false;
        }
        return true; }).slice(0, 5).map(e => e.tagName + '.' + e.className)""")
    assert wide == [], wide
    shot(phone, name if name != "dashboard" else "dashboard-C5")
