// WSIS knowledge search - the web page: an ES module (no build step, no dependencies); helpers in util.js.
// Rule: text from documents is only ever inserted as text nodes (never innerHTML); highlights are
// rebuilt from the server's escaped snippet as text nodes and <mark> elements.
import {$, KIND_NAMES, KIND_COLORS, api, docLink, el, navLink, setRouter, snippetNodes, where} from "./util.js";

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
  for (const v of ["search", "ask", "lines", "doc"]) $(`view-${v}`).hidden = v !== view;
  document.querySelectorAll("[data-nav]").forEach((a) => {
    if (a.dataset.nav === view && !a.classList.contains("brand")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
}

function route() {
  const p = state();
  const view = p.get("view") || "search";
  show(view);
  if (view === "search") runSearch(p);
  else if (view === "lines") renderLines();
  else if (view === "doc") renderDocument(p.get("doc"), p.get("p"));
  else if (view === "ask") $("question").focus();
}

// ------------------------------------------------------------------ search
async function runSearch(p) {
  const q = p.get("q") || "";
  $("q").value = q;
  $("year_from").value = p.get("year_from") || "";
  $("year_to").value = p.get("year_to") || "";
  $("country").value = p.get("country") || "";
  const results = $("results");
  if (!q.trim()) {
    results.replaceChildren();
    $("pager").replaceChildren();
    $("timeline").hidden = true;
    $("status").textContent = "Type a query to search facilitators' reports, IGF sessions and stocktaking initiatives.";
    renderFacets({action_line: {}, kind: {}, role: {}}, p);
    return;
  }
  // reflect the URL in the filter boxes at once (back/forward), before the results arrive
  for (const key of LIST_KEYS) {
    const on = new Set(p.getAll(key));
    document.querySelectorAll(`#facet-${key} input[type=checkbox]`).forEach((b) => { b.checked = on.has(b.value); });
  }
  const page = Math.max(1, parseInt(p.get("page") || "1", 10) || 1);
  const params = new URLSearchParams();
  params.set("q", q);
  params.set("k", PAGE_SIZE);
  params.set("offset", (page - 1) * PAGE_SIZE);
  for (const key of [...LIST_KEYS, "country"]) for (const v of p.getAll(key)) params.append(key, v);
  for (const key of ["year_from", "year_to"]) if (p.get(key)) params.set(key, p.get(key));
  $("status").textContent = "Searching…";
  let data;
  try {
    data = await api(`/search?${params}`);
  } catch (e) {
    $("status").textContent = `Search failed: ${e.message}`;
    results.replaceChildren();
    return;
  }
  $("status").textContent = `${data.total} matching passages` + (data.total ? ` - page ${page}` : "");
  results.replaceChildren(...data.results.map(resultCard));
  renderFacets(data.facets, p);
  renderTimeline(data.facets.year_kind || {});
  renderPager(Math.min(data.total, data.available), page, p);
}

function tagChips(tags) {
  return (tags || []).slice(0, 4).map((t) =>
    el("span", {class: `chip ${t.source}`, title: `${lineNames[t.line] || t.line} (${t.source}, ${t.score})`}, t.line));
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


function renderFacets(facets, p) {
  const chosen = (key) => new Set(p.getAll(key));
  const box = (key, value, label, count, extraClass) => {
    const id = `f-${key}-${value}`.replace(/[^A-Za-z0-9_-]/g, "_");
    const input = el("input", {type: "checkbox", id, value, checked: chosen(key).has(value),
      onchange: (ev) => toggleFilter(key, value, ev.target.checked)});
    return el("label", {for: id, class: extraClass || null}, input, label,
      el("span", {class: "count"}, count === undefined ? "" : String(count)));
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

function renderPager(total, page, p) {
  const pages = Math.ceil(Math.min(total, 1000) / PAGE_SIZE);
  const nav = $("pager");
  nav.replaceChildren();
  if (pages <= 1) return;
  const to = (n) => { const q = new URLSearchParams(p); q.set("page", n); return `/?${q}`; };
  if (page > 1) nav.append(el("a", {href: to(page - 1), onclick: navLink, rel: "prev"}, "← Previous"));
  nav.append(el("span", {}, `Page ${page} of ${pages}`));
  if (page < pages) nav.append(el("a", {href: to(page + 1), onclick: navLink, rel: "next"}, "Next →"));
}

// Stacked bars of passages per year, one colour per kind, drawn as inline SVG.
function renderTimeline(yearKind) {
  const years = Object.keys(yearKind).map(Number).sort((a, b) => a - b);
  const fig = $("timeline");
  if (years.length === 0) { fig.hidden = true; return; }
  fig.hidden = false;
  const ns = "http://www.w3.org/2000/svg";
  const svgEl = (tag, attrs) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    return n;
  };
  const first = years[0], last = years[years.length - 1];
  const span = last - first + 1;
  const W = 600, H = 150, pad = 24, bw = Math.max(4, (W - 2 * pad) / span - 2);
  const max = Math.max(...years.map((y) => Object.values(yearKind[y]).reduce((a, b) => a + b, 0)));
  const svg = svgEl("svg", {viewBox: `0 0 ${W} ${H + 20}`, role: "img",
    "aria-label": `Passages per year from ${first} to ${last}`});
  for (const y of years) {
    let top = H;
    const x = pad + (y - first) * ((W - 2 * pad) / span);
    for (const kind of Object.keys(KIND_NAMES)) {
      const n = yearKind[y][kind] || 0;
      if (!n) continue;
      const h = (n / max) * (H - 10);
      top -= h;
      const r = svgEl("rect", {x, y: top, width: bw, height: h, fill: KIND_COLORS[kind]});
      const t = svgEl("title", {});
      t.textContent = `${y}: ${n} ${KIND_NAMES[kind]}`;
      r.appendChild(t);
      svg.appendChild(r);
    }
    if (span <= 12 || y === first || y === last || y % 5 === 0) {
      const label = svgEl("text", {x: x + bw / 2, y: H + 14, "text-anchor": "middle", "font-size": 11, fill: "#4a5360"});
      label.textContent = String(y);
      svg.appendChild(label);
    }
  }
  const legend = el("div", {class: "legend"}, ...Object.keys(KIND_NAMES).map((k) =>
    el("span", {style: `--c:${KIND_COLORS[k]}`}, KIND_NAMES[k])));
  $("timeline-chart").replaceChildren(svg, legend);
}

// ------------------------------------------------------------------ panel (passages, related)
function openPanel(title, ...body) {
  $("panel-title").textContent = title;
  $("panel-body").replaceChildren(...body);
  $("panel").hidden = false;
  $("panel-close").focus();
}
function closePanel() { $("panel").hidden = true; }

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

async function loadProblemGroups(details, code) {
  if (details.dataset.loaded) return;
  details.dataset.loaded = "1";
  const body = details.querySelector(".groups");
  try {
    const g = await api(`/related/groups?action_line=${encodeURIComponent(code)}`);
    body.replaceChildren(...(g.groups.length ? g.groups.map((x) => el("div", {class: "problem-group"},
      el("h3", {}, `${x.label} (${x.size})`),
      el("ul", {}, ...x.initiatives.map((m) => el("li", {},
        el("a", {href: docLink(m), onclick: navLink}, m.title), m.country ? ` (${m.country})` : "")))))
      : [el("p", {class: "ctx"}, "No groups of two or more initiatives.")]));
  } catch (e) {
    body.replaceChildren(el("p", {class: "ctx"}, e.message));
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
    if (s.heading && s.heading !== lastHeading) { body.push(el("h3", {}, s.heading)); lastHeading = s.heading; }
    if (s.page && (i === 0 || d.sections[i - 1].page !== s.page)) body.push(el("p", {class: "ctx"}, `Page ${s.page}`));
    body.push(secs[i]);
  });
  const meta = d.metadata || {};
  box.replaceChildren(
    el("h1", {}, d.title),
    el("div", {class: "meta"}, el("span", {class: "badge"}, KIND_NAMES[d.kind] || d.kind), d.year ? String(d.year) : "",
      meta.organisation || "", meta.country || "", meta.facilitator ? `Facilitator: ${meta.facilitator}` : "",
      d.url ? el("a", {href: d.url, rel: "noopener noreferrer", target: "_blank"}, "Source") : d.source),
    ...body);
  const f = $("focus");
  if (f) f.scrollIntoView({block: "center"});
  renderRelatedInDocument(box, d);
}

// ------------------------------------------------------------------ action lines
async function renderLines() {
  const box = $("lines");
  box.replaceChildren(el("p", {}, "Loading…"));
  const data = await api("/action-lines");
  const max = Math.max(1, ...data.action_lines.map((a) => a.passages));
  box.replaceChildren(...data.action_lines.map((a) => {
    const q = new URLSearchParams({q: a.name, action_line: a.code});
    return el("div", {class: "line-row"},
      el("h2", {}, el("a", {href: `/?${q}`, onclick: navLink}, `${a.code}: ${a.name}`)),
      el("p", {}, a.description),
      el("div", {class: "meta"}, `Facilitators: ${a.facilitators.join(", ")}`,
        `${a.documents} documents, ${a.passages} passages`,
        el("span", {class: "bar", style: `width:${Math.round(120 * a.passages / max)}px`, "aria-hidden": "true"})),
      el("div", {class: "meta"}, ...Object.entries(a.by_role).filter(([r]) => r !== "none")
        .map(([r, n]) => el("span", {class: `badge role-${r}`}, `${r}: ${n}`))),
      el("details", {class: "problems", ontoggle: (ev) => loadProblemGroups(ev.currentTarget, a.code)},
        el("summary", {}, "Initiatives by problem"), el("div", {class: "groups"}, el("p", {class: "ctx"}, "Loading…"))));
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
        bot.append(el("ol", {class: "sources"}, ...[...numbers.entries()].map(([pid, n]) => {
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
      try { handle(event, JSON.parse(data)); } catch (e) { /* ignore a malformed event */ }
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
$("clear-filters").addEventListener("click", () => {
  const p = new URLSearchParams();
  if (state().get("q")) p.set("q", state().get("q"));
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
document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && !$("panel").hidden) closePanel(); });
document.querySelectorAll("[data-nav]").forEach((a) => a.addEventListener("click", navLink));
window.addEventListener("popstate", route);
setRouter(route);

api("/action-lines").then((d) => { for (const a of d.action_lines) lineNames[a.code] = a.name; }).catch(() => {});
route();
