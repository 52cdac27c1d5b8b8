// WSIS knowledge search - the web page: an ES module (no build step, no dependencies); helpers in util.js.
// Rule: text from documents is only ever inserted as text nodes (never innerHTML); highlights are
// rebuilt from the server's escaped snippet as text nodes and <mark> elements.
import {yearChart} from "./chart.js";
import {renderDashboard} from "./dashboard.js";
import {$, KIND_NAMES, api, docLink, el, fmt, navLink, plural, searchHref, setRouter, snippetNodes, spaced, where}
  from "./util.js";

const PAGE_SIZE = 10;
const LIST_KEYS = ["action_line", "kind", "role"];
let lineNames = {};
let conversationId = null;

function state() { return new URLSearchParams(location.search); }

function go(params, replace) {
  const qs = params.toString();
  const url = qs ? `/?${qs}` : "/";
  if (replace) history.replaceState(null, "", url); else history.pushState(null, "", url);
  route();
}

// ------------------------------------------------------------------ views
function show(view) {
  for (const v of ["search", "ask", "lines", "line", "doc"]) $(`view-${v}`).hidden = v !== view;
  document.querySelectorAll("[data-nav]").forEach((a) => {
    const current = a.dataset.nav === view || (view === "line" && a.dataset.nav === "lines");
    if (current && !a.classList.contains("brand")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
}

function route() {
  const p = state();
  const known = ["search", "ask", "lines", "line", "doc"];
  const view = known.includes(p.get("view")) ? p.get("view") : "search";
  show(view);
  if (view !== "line") document.title = "WSIS knowledge search";
  if (view === "search") runSearch(p);
  else if (view === "lines") renderLines();
  else if (view === "line") renderDashboard($("dashboard"), p.get("code"), {openPassage});
  else if (view === "doc") renderDocument(p.get("doc"), p.get("p"));
  else if (view === "ask") $("question").focus();
}

// ------------------------------------------------------------------ search
// Three states of one view: the whole corpus (empty box, no filter: its counts and timeline), a
// selection (empty box with filters: its passages, most recent first, from /browse), and a search.
// Results come one card per document (the best passage, the others unfolding in place) unless the
// reader asks for every passage (flat=1 in the address).
const FILTER_KEYS = [...LIST_KEYS, "country", "year_from", "year_to"];
let searchSeq = 0;

function filterParams(p, params) {
  for (const key of [...LIST_KEYS, "country"]) for (const v of p.getAll(key)) params.append(key, v);
  for (const key of ["year_from", "year_to"]) if (p.get(key)) params.set(key, p.get(key));
  return params;
}

function setStatus(text, note) {
  $("status").textContent = text;
  $("status-note").textContent = note || "";
}

async function runSearch(p) {
  const seq = ++searchSeq;
  const q = (p.get("q") || "").trim();
  const flat = p.get("flat") === "1";
  $("q").value = q;
  $("year_from").value = p.get("year_from") || "";
  $("year_to").value = p.get("year_to") || "";
  $("country").value = p.get("country") || "";
  document.querySelectorAll("#grouping input").forEach((r) => { r.checked = r.value === (flat ? "passage" : "document"); });
  // reflect the URL in the filter boxes at once (back/forward), before the results arrive
  for (const key of LIST_KEYS) {
    const on = new Set(p.getAll(key));
    document.querySelectorAll(`#facet-${key} input[type=checkbox]`).forEach((b) => { b.checked = on.has(b.value); });
  }
  const results = $("results");
  const filtered = FILTER_KEYS.some((k) => p.get(k));
  const page = Math.max(1, parseInt(p.get("page") || "1", 10) || 1);
  const params = filterParams(p, new URLSearchParams());
  if (!q && !filtered) {  // the whole corpus: its counts before any search
    $("grouping").hidden = true;
    results.replaceChildren();
    $("pager").replaceChildren();
    try {
      const c = await api("/facets");
      if (seq !== searchSeq) return;
      setStatus(`The record holds ${fmt(c.passages)} passages in ${fmt(c.documents)} documents.`,
        "Type a query, or choose a filter or a year to list its passages.");
      renderFacets(c.facets, p, "Counts in the whole record");
      renderTimeline(c.facets.year_kind || {}, p, "Passages per year in the whole record, by kind", c.facets.kind);
    } catch (e) {
      setStatus("Type a query to search facilitators' reports, IGF sessions and stocktaking initiatives.");
      renderFacets({}, p, "");
    }
    return;
  }
  $("grouping").hidden = false;
  params.set("k", PAGE_SIZE);
  params.set("offset", (page - 1) * PAGE_SIZE);
  if (!flat) params.set("group_by", "document");
  else if (!q) params.set("group_by", "none");
  if (q) params.set("q", q);
  setStatus(q ? "Searching…" : "Loading…");
  let data;
  try {
    data = await api(`/${q ? "search" : "browse"}?${params}`);
  } catch (e) {
    if (seq !== searchSeq) return;
    setStatus(`${q ? "Search" : "Listing"} failed: ${e.message}`);
    results.replaceChildren();
    return;
  }
  if (seq !== searchSeq) return;
  const pageNote = (n) => (n > PAGE_SIZE ? `, page ${page}` : "");
  if (!q) {
    setStatus(`${plural(data.passages_matched, "passage")} in ${plural(data.documents, "document")}${pageNote(data.total)}`,
      "Most recent first. Type a query to rank them by relevance.");
  } else if (!flat) {
    const rel = data.relevant;
    setStatus(plural(data.documents, "document") +
      (rel ? `, ${fmt(rel.documents)} of them with close matches (${plural(rel.passages, "passage")})` : "") + pageNote(data.total),
    `Ranked: the best ${fmt(data.passages_ranked)} of ${fmt(data.passages_matched)} passages that share a word with the query` +
      (rel ? ` or are near it; close match: similarity ≥ ${rel.cosine.toFixed(2)}.` : "."));
  } else {
    setStatus(`${fmt(data.total)} matching passage${data.total === 1 ? "" : "s"}${pageNote(data.total)}`,
      `${fmt(data.available)} ranked; a passage matches when it shares a word with the query or is near it.`);
  }
  if (data.notice) $("status-note").textContent += ` ${data.notice}`;
  results.replaceChildren(...data.results.map((c, i) => (flat ? resultCard(c) : groupCard(c, i))));
  if (!data.results.length) results.append(el("li", {class: "empty"}, q ? "Nothing matches. Try other words or fewer filters."
    : "No passages inside these filters."));
  const scope = q ? "Counts among the matching passages" : "Counts in this selection";
  renderFacets(data.facets, p, data.facets.estimated ? `${scope} (estimated from a sample)` : scope);
  renderTimeline(data.facets.year_kind || {}, p, q ? "Matching passages per year, by kind" : "Passages per year, by kind",
    data.facets.kind);
  renderPager(Math.min(data.total, data.available), page, p, q ? 1000 : 10000);
}

// A document's card: its best passage, and "N more passages in this document" unfolding in place.
function groupCard(c, i) {
  const li = resultCard(c);
  if (!c.more_count) return li;
  const id = `more-${i}`;
  const shown = c.more || [];
  const list = el("ol", {class: "more", id, hidden: true},
    ...shown.map((m) => el("li", {},
      el("a", {href: docLink({document_id: c.document_id, passage_id: m.passage_id}), onclick: navLink},
        where(m) || m.heading || "In the document"),
      m.role && m.role !== "none" ? el("span", {class: `badge role-${m.role}`}, m.role) : null,
      el("p", {class: "snippet"}, ...snippetNodes(m.snippet || "")))),
    c.more_count > shown.length ? el("li", {class: "ctx"}, el("a", {href: docLink({document_id: c.document_id}),
      onclick: navLink}, `${c.more_count - shown.length} more: open the document`)) : null);
  const label = () => (list.hidden ? `${c.more_count} more passage${c.more_count > 1 ? "s" : ""} in this document`
    : `Hide the other passage${c.more_count > 1 ? "s" : ""}`);
  const btn = el("button", {type: "button", class: "more-toggle", "aria-expanded": "false", "aria-controls": id});
  btn.textContent = label();
  btn.addEventListener("click", () => {
    list.hidden = !list.hidden;
    btn.setAttribute("aria-expanded", String(!list.hidden));
    btn.textContent = label();
  });
  li.append(btn, list);
  return li;
}

// Action-line tags: the primary line first and bold; secondary lines lighter, with their score (the
// probability that a reader would file the passage there); inferred lines under 5% are not shown.
function tagChips(tags) {
  return (tags || []).filter((t, i) => i === 0 || t.source !== "inferred" || t.score >= 0.05).slice(0, 4).map((t, i) => {
    const primary = t.primary ?? i === 0;
    const pct = `${Math.round(t.score * 100)}%`;
    return el("span", {class: `chip ${t.source} ${primary ? "primary" : "secondary"}`,
      title: `${primary ? "primary" : "secondary"} line: ${lineNames[t.line] || t.line} (${t.source}, ${pct})`},
      t.line, primary ? null : el("span", {class: "chip-score"}, ` ${pct}`));
  });
}



function resultCard(c) {
  const li = el("li", {class: "card", "data-passage": c.passage_id},
    el("h3", {}, el("a", {href: docLink(c), onclick: navLink}, c.title || c.document_id)),
    el("div", {class: "meta"},
      el("span", {class: "badge"}, KIND_NAMES[c.kind] || c.kind),
      c.year ? el("span", {}, String(c.year)) : null,
      where(c) ? el("span", {}, where(c)) : null,
      c.country ? el("span", {}, c.country) : null,
      c.role && c.role !== "none" ? el("span", {class: `badge role-${c.role}`}, c.role) : null,
      ...tagChips(c.action_lines)),
    el("p", {class: "snippet"}, ...snippetNodes(c.snippet || "")),
    el("div", {class: "actions"},
      el("a", {href: docLink(c), onclick: navLink}, "Open in document"),
      el("button", {type: "button", class: "link", onclick: () => openRelated(c)}, "Related initiatives"),
      c.url ? el("a", {href: c.url, rel: "noopener noreferrer", target: "_blank"}, "Source") : null));
  return li;
}


function renderFacets(facets, p, scope) {
  $("facet-scope").textContent = scope || "";
  const chosen = (key) => new Set(p.getAll(key));
  const box = (key, value, label, count, extraClass) => {
    const id = `f-${key}-${value}`.replace(/[^A-Za-z0-9_-]/g, "_");
    const input = el("input", {type: "checkbox", id, value, checked: chosen(key).has(value),
      onchange: (ev) => toggleFilter(key, value, ev.target.checked)});
    return el("label", {for: id, class: extraClass || null}, input, label,
      el("span", {class: "count"}, count === undefined ? "" : fmt(count)));
  };
  // action lines: C1..C11 with the C7 sub-lines under C7, always listed so that a filter can be chosen
  const al = facets.action_line || {};
  const codes = ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "C7.e-government", "C7.e-business", "C7.e-learning",
    "C7.e-health", "C7.e-employment", "C7.e-environment", "C7.e-agriculture", "C7.e-science", "C8", "C9", "C10", "C11"];
  $("facet-action_line").replaceChildren(...codes.map((c) =>
    box("action_line", c, c.startsWith("C7.") ? c.slice(3) : c, al[c] || 0, c.startsWith("C7.") ? "sub" : null)));
  const kinds = Object.keys(KIND_NAMES);
  $("facet-kind").replaceChildren(...kinds.map((k) => box("kind", k, KIND_NAMES[k], (facets.kind || {})[k] || 0)));
  const roles = ["achievement", "challenge", "recommendation", "commitment", "none"];
  $("facet-role").replaceChildren(...roles.map((r) => box("role", r, r, (facets.role || {})[r] || 0)));
}

function toggleFilter(key, value, on) {
  const p = state();
  const values = p.getAll(key).filter((v) => v !== value);
  if (on) values.push(value);
  p.delete(key);
  for (const v of values) p.append(key, v);
  p.delete("page");
  go(p);
}

function renderPager(total, page, p, maxOffset) {
  const pages = Math.ceil(Math.min(total, (maxOffset || 1000) + PAGE_SIZE) / PAGE_SIZE);
  const nav = $("pager");
  nav.replaceChildren();
  if (pages <= 1) return;
  const to = (n) => { const q = new URLSearchParams(p); q.set("page", n); return `/?${q}`; };
  if (page > 1) nav.append(el("a", {href: to(page - 1), onclick: navLink, rel: "prev"}, "← Previous"));
  nav.append(el("span", {}, `Page ${page} of ${pages}`));
  if (page < pages) nav.append(el("a", {href: to(page + 1), onclick: navLink, rel: "next"}, "Next →"));
}

// Passages per year by kind (chart.js): hover or focus a bar for its counts, click it to keep that year.
function renderTimeline(yearKind, p, caption, kindCounts) {
  const box = $("timeline");
  if (!Object.keys(yearKind).length) { box.hidden = true; box.replaceChildren(); return; }
  const yearHref = (y) => {
    const q = new URLSearchParams(p);
    q.set("year_from", y); q.set("year_to", y); q.delete("page");
    return `/?${q}`;
  };
  const one = p.get("year_from") && p.get("year_from") === p.get("year_to") ? p.get("year_from") : null;
  const inKinds = Object.values(kindCounts || {}).reduce((a, n) => a + n, 0);
  const dated = Object.values(yearKind).reduce((a, y) => a + Object.values(y).reduce((b, n) => b + n, 0), 0);
  const chart = yearChart({data: yearKind, caption, undated: Math.max(0, inKinds - dated), compact: true,
    series: Object.keys(KIND_NAMES).map((k) => ({key: k, name: KIND_NAMES[k]})), href: yearHref,
    cellHref: (y, k) => { const q = new URL(yearHref(y), location.origin).searchParams; q.set("kind", k); return `/?${q}`; },
    selected: one});
  if (p.get("year_from") || p.get("year_to")) {
    const q = new URLSearchParams(p);
    q.delete("year_from"); q.delete("year_to"); q.delete("page");
    chart.append(el("p", {class: "all-years"}, el("a", {href: `/?${q}`, onclick: navLink}, "Show all years")));
  }
  box.replaceChildren(chart);
  box.hidden = false;
}

// ------------------------------------------------------------------ panel (passages, related)
let panelOpener = null;
function openPanel(title, ...body) {
  if ($("panel").hidden) panelOpener = document.activeElement;
  $("panel-title").textContent = title;
  $("panel-body").replaceChildren(...body);
  $("panel").hidden = false;
  $("panel-close").focus();
}
function closePanel() {
  $("panel").hidden = true;
  if (panelOpener && document.contains(panelOpener)) panelOpener.focus();
  panelOpener = null;
}

async function openPassage(pid) {
  openPanel("Loading…");
  try {
    const p = await api(`/passages/${encodeURIComponent(pid)}`);
    openPanel(p.title,
      el("div", {class: "meta"}, el("span", {class: "badge"}, KIND_NAMES[p.kind] || p.kind),
        p.year ? String(p.year) : "", where(p), ...tagChips(p.action_lines)),
      ...p.previous.map((x) => el("p", {class: "ctx"}, x.text)),
      el("p", {class: "focus"}, p.text),
      ...p.next.map((x) => el("p", {class: "ctx"}, x.text)),
      el("p", {}, el("a", {href: docLink(p), onclick: (ev) => { closePanel(); navLink(ev); }}, "Open the whole document")));
  } catch (e) {
    openPanel("Passage not available", el("p", {}, e.message));
  }
}

// One related item: its title, where it comes from, why it is related, its snippet with the shared
// key phrases marked.
function relatedItem(x) {
  return el("li", {class: "related-item"},
    el("a", {href: docLink(x), onclick: (ev) => { closePanel(); navLink(ev); }}, x.title),
    el("div", {class: "ctx"}, `${KIND_NAMES[x.kind] || x.kind}${x.year ? ", " + x.year : ""}` +
      `${x.organisation ? ", " + x.organisation : ""}${x.country ? ", " + x.country : ""}`),
    el("div", {class: "why"}, x.why.text),
    x.snippet ? el("div", {class: "ctx"}, ...snippetNodes(x.snippet)) : null);
}
function relatedGroups(r) {
  const group = (name, items, none) => items && items.length ? [el("h3", {}, name), el("ul", {}, ...items.map(relatedItem))]
    : none ? [el("h3", {}, name), el("p", {class: "ctx"}, "None found.")] : [];
  return [...group("Stocktaking initiatives", r.initiatives, true),
    ...group("More from this organisation", r.more_from_organisation),
    ...group("Elsewhere in this country", r.elsewhere_in_country),
    ...group("IGF discussions", r.discussions, true), ...group("Report recommendations", r.recommendations, true)];
}
function relatedQuery(c) {
  // an initiative is related as a whole; a passage of a session or a report as itself
  return c.kind === "stocktaking_entry" || !c.passage_id ? `document_id=${encodeURIComponent(c.document_id)}`
    : `passage_id=${encodeURIComponent(c.passage_id)}`;
}

async function openRelated(c) {
  openPanel("Loading related initiatives…");
  try {
    const r = await api(`/related?${relatedQuery(c)}`);
    openPanel(`Related to: ${c.title}`, ...relatedGroups(r));
  } catch (e) {
    openPanel("Related initiatives not available", el("p", {}, e.message));
  }
}

async function renderRelatedInDocument(box, d) {
  const sec = el("section", {class: "doc-related", "aria-label": "Related initiatives"}, el("h2", {}, "Related initiatives"),
    el("p", {class: "ctx"}, "Loading…"));
  box.append(sec);
  try {
    const r = await api(`/related?document_id=${encodeURIComponent(d.id)}`);
    sec.replaceChildren(el("h2", {}, "Related initiatives"), ...relatedGroups(r));
  } catch (e) {
    sec.replaceChildren(el("h2", {}, "Related initiatives"), el("p", {class: "ctx"}, e.message));
  }
}

// ------------------------------------------------------------------ document view
async function renderDocument(docId, pid) {
  const box = $("doc");
  box.replaceChildren(el("p", {}, "Loading…"));
  if (!docId) { box.replaceChildren(el("p", {}, "No document given.")); return; }
  let d;
  try {
    d = await api(`/documents/${docId.split("/").map(encodeURIComponent).join("/")}`);
  } catch (e) {
    box.replaceChildren(el("p", {}, `Document not available: ${e.message}`));
    return;
  }
  const focus = d.passages.find((p) => p.passage_id === pid);
  const secs = d.sections.map((s) => {
    const inFocus = focus && s.start < focus.end && s.end > focus.start;
    const text = d.text.slice(s.start, s.end);
    return el("div", {class: "section" + (inFocus ? " focus" : ""), "data-page": s.page || null,
      id: inFocus ? "focus" : null},
      s.speaker ? el("span", {class: "who"}, `${s.speaker}: `) : null, text);
  });
  let lastHeading = null;
  const body = [];
  d.sections.forEach((s, i) => {
    if (s.heading && s.heading !== lastHeading) { body.push(el("h2", {class: "doc-h"}, s.heading)); lastHeading = s.heading; }
    if (s.page && (i === 0 || d.sections[i - 1].page !== s.page)) body.push(el("p", {class: "ctx"}, `Page ${s.page}`));
    body.push(secs[i]);
  });
  const meta = d.metadata || {};
  box.replaceChildren(
    el("h1", {}, d.title),
    el("div", {class: "meta"}, el("span", {class: "badge"}, KIND_NAMES[d.kind] || d.kind),
      ...[d.year ? String(d.year) : "", meta.organisation, meta.country,
        meta.facilitator ? `Facilitator: ${meta.facilitator}` : ""].filter(Boolean).map((t) => el("span", {}, t)),
      d.url ? el("a", {href: d.url, rel: "noopener noreferrer", target: "_blank"}, "Source") : el("span", {}, d.source)),
    ...body);
  const f = $("focus");
  if (f) f.scrollIntoView({block: "center"});
  renderRelatedInDocument(box, d);
}

// ------------------------------------------------------------------ action lines
async function renderLines() {
  const box = $("lines");
  box.replaceChildren(el("p", {}, "Loading…"));
  let data;
  try {
    data = await api("/action-lines");
  } catch (e) {
    box.replaceChildren(el("p", {}, `Action lines not available: ${e.message}`));
    return;
  }
  const max = Math.max(1, ...data.action_lines.map((a) => a.passages));
  const ns = "http://www.w3.org/2000/svg";
  const bar = (n) => {  // a proportional bar drawn as SVG geometry (no style attribute: CSP)
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 120 8");
    svg.setAttribute("class", "line-bar");
    svg.setAttribute("aria-hidden", "true");
    const r = document.createElementNS(ns, "rect");
    r.setAttribute("width", String(Math.max(1, Math.round(120 * n / max))));
    r.setAttribute("height", "8");
    svg.append(r);
    return svg;
  };
  box.replaceChildren(...data.action_lines.map((a) => {
    const dash = `/?${new URLSearchParams({view: "line", code: a.code})}`;
    return el("div", {class: "line-row" + (a.parent !== a.code ? " sub" : "")},
      el("h2", {}, el("a", {href: dash, onclick: navLink}, `${a.code}: ${a.name}`)),
      el("p", {}, a.description),
      el("div", {class: "meta"},
        el("span", {class: "facilitators"}, "Facilitators: ", ...spaced(a.facilitators.map((f) => el("span", {class: "chip"}, f)))),
        el("span", {class: "sep", "aria-hidden": "true"}, "·"),
        el("a", {href: searchHref({action_line: a.code}), onclick: navLink},
          `${plural(a.documents, "document")}, ${plural(a.passages, "passage")}`), bar(a.passages)),
      el("div", {class: "meta"}, ...Object.entries(a.by_role).filter(([r, n]) => r !== "none" && n)
        .map(([r, n]) => el("a", {class: `badge role-${r}`, href: searchHref({action_line: a.code, role: r}), onclick: navLink},
          `${r}: ${fmt(n)}`)),
        el("a", {href: dash, onclick: navLink, class: "dash-link"}, "Dashboard →")));
  }));
}

// ------------------------------------------------------------------ ask
function citeButton(n, pid) {
  return el("button", {type: "button", class: "cite", "data-passage": pid, "aria-label": `Open citation ${n}`,
    onclick: () => openPassage(pid)}, `[${n}]`);
}

async function ask(question) {
  const chat = $("chat");
  chat.append(el("p", {class: "msg user"}, question));
  const bot = el("div", {class: "msg bot"}, el("p", {class: "run"}, "Searching…"));
  chat.append(bot);
  const numbers = new Map();
  let cards = {};
  const body = {question};
  if (conversationId) body.conversation_id = conversationId;
  let resp;
  try {
    resp = await fetch("/ask/stream", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body)});
    if (!resp.ok) {
      const err = await resp.json().catch(() => null);
      throw new Error(err && err.error ? err.error.message : `HTTP ${resp.status}`);
    }
  } catch (e) {
    bot.replaceChildren(el("p", {}, `Sorry, that failed: ${e.message}`));
    return;
  }
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  const answer = el("div", {class: "answer"});
  const handle = (event, data) => {
    if (event === "meta") {
      conversationId = data.conversation_id;
      bot.replaceChildren(el("p", {class: "run"}, `Query run: “${data.query_run.text}”` +
        (Object.keys(data.query_run.filters).length ? ` with filters ${JSON.stringify(data.query_run.filters)}` : "")), answer);
      if (data.abstained) bot.classList.add("abstained");
    } else if (event === "passages") {
      for (const c of data) cards[c.passage_id] = c;
    } else if (event === "sentence") {
      const span = el("span", {class: "sentence"});
      if (data.source && data.source.speaker) span.append(el("span", {class: "attribution"}, `${data.source.speaker}: `));
      span.append(data.text + " ");
      for (const pid of data.citations) {
        if (!numbers.has(pid)) numbers.set(pid, numbers.size + 1);
        span.append(citeButton(numbers.get(pid), pid));
      }
      if (data.initiative) {  // "which initiatives ..." answers: one item per initiative
        const i = data.initiative;
        const bits = [i.organisation, i.country, i.year].filter(Boolean).join(", ");
        let list = answer.querySelector("ul.initiatives");
        if (!list) { list = el("ul", {class: "initiatives"}); answer.append(list); }
        list.append(el("li", {}, el("a", {href: docLink({document_id: i.document_id}), onclick: navLink,
          class: "initiative-title"}, i.title), bits ? ` (${bits}): ` : ": ", span));
      } else {
        answer.append(span, " ");
      }
      if (data.reason) answer.append(el("span", {class: "reason"}, ` (${data.reason})`));
      if (data.nearest_action_lines && data.nearest_action_lines.length) {
        bot.append(el("p", {}, "Nearest action lines: ", ...data.nearest_action_lines.map((c) =>
          el("a", {href: `/?${new URLSearchParams({q: question, action_line: c})}`, class: "chip", onclick: navLink}, c))));
      }
    } else if (event === "related" && data.length) {
      bot.append(el("p", {class: "run"}, "Related initiatives: "),
        el("ul", {}, ...data.map((x) => el("li", {}, el("a", {href: docLink(x), onclick: navLink}, x.title),
          ` (${x.country || KIND_NAMES[x.kind]})`))));
    } else if (event === "done") {
      if (numbers.size) {
        bot.append(el("p", {class: "run"}, "Sources:"), el("ol", {class: "sources"}, ...[...numbers.entries()].map(([pid, n]) => {
          const c = cards[pid] || {};
          return el("li", {value: n}, el("button", {type: "button", class: "link", onclick: () => openPassage(pid)},
            `${c.title || pid}${c.year ? ", " + c.year : ""}${where(c) ? ", " + where(c) : ""}`));
        })));
      }
      bot.setAttribute("data-done", "1");
    } else if (event === "error") {
      bot.append(el("p", {}, "The answer was interrupted."));
    }
  };
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buf += decoder.decode(value, {stream: true});
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      let payload;
      try { payload = JSON.parse(data); } catch (e) { console.warn("malformed event skipped:", event, e); continue; }
      handle(event, payload);  // outside the try: a rendering bug shows in the console, it is not swallowed
    }
  }
  chat.scrollTop = chat.scrollHeight;
}

// ------------------------------------------------------------------ wiring
$("search-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const p = state();
  p.set("q", $("q").value.trim());
  p.delete("page");
  p.delete("view");
  go(p);
});
for (const id of ["year_from", "year_to", "country"]) {
  $(id).addEventListener("change", () => {
    const p = state();
    const v = $(id).value.trim();
    if (v) p.set(id, v); else p.delete(id);
    p.delete("page");
    go(p);
  });
}
document.querySelectorAll("#grouping input").forEach((r) => r.addEventListener("change", () => {
  const p = state();
  if (r.value === "passage") p.set("flat", "1"); else p.delete("flat");
  p.delete("page");
  go(p);
}));
$("clear-filters").addEventListener("click", () => {
  const p = new URLSearchParams();
  for (const key of ["q", "flat"]) if (state().get(key)) p.set(key, state().get(key));
  go(p);
});
$("ask-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const q = $("question").value.trim();
  if (!q) return;
  $("question").value = "";
  ask(q);
});
$("new-conversation").addEventListener("click", () => {
  conversationId = null;
  $("chat").replaceChildren();
  $("question").focus();
});
$("panel-close").addEventListener("click", closePanel);
$("panel").addEventListener("click", (ev) => { if (ev.target === $("panel")) closePanel(); });
document.addEventListener("keydown", (ev) => {
  if ($("panel").hidden) return;
  if (ev.key === "Escape") closePanel();
  else if (ev.key === "Tab") {  // the dialog is modal: keep the focus inside it
    const f = [...$("panel").querySelectorAll("a[href], button, input, [tabindex]:not([tabindex='-1'])")];
    if (!f.length) return;
    const first = f[0], last = f[f.length - 1];
    if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
    else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
  }
});
document.querySelectorAll("[data-nav]").forEach((a) => a.addEventListener("click", navLink));
window.addEventListener("popstate", route);
setRouter(route);

api("/action-lines").then((d) => { for (const a of d.action_lines) lineNames[a.code] = a.name; }).catch(() => {});
route();
