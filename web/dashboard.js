// One action line's page for its facilitators and experts: the line's text and facilitators, its numbers
// (every one a link into the passages it counts), passages per year by role and by kind, the most recent
// recommendations and challenges with their citations, its initiatives grouped by problem, and the IGF
// sessions that discussed it. Data: GET /action-lines/{code} and GET /related/groups?action_line=.
import {yearChart} from "./chart.js";
import {KIND_NAMES, api, docLink, el, fmt, navLink, navTo, plural, searchHref, snippetNodes, spaced} from "./util.js";

const ROLE_NAMES = {achievement: "Achievements", challenge: "Challenges", recommendation: "Recommendations",
  commitment: "Commitments"};
const ROLE_ONE = {achievement: "achievement", challenge: "challenge", recommendation: "recommendation",
  commitment: "commitment"};

const link = (href, text, attrs) => el("a", {href, onclick: navLink, ...(attrs || {})}, text);

function numbers(d) {
  const line = d.code;
  const kinds = Object.entries(d.by_kind);
  const roles = Object.keys(ROLE_NAMES);
  return el("section", {class: "dash-numbers", "aria-labelledby": "dash-numbers-h"},
    el("h2", {id: "dash-numbers-h", class: "sr-only"}, "In numbers"),
    el("dl", {class: "stats"},
      el("div", {}, el("dt", {}, "Passages"), el("dd", {}, link(searchHref({action_line: line}), fmt(d.passages),
        {"aria-label": `${fmt(d.passages)} passages: list them`}))),
      el("div", {}, el("dt", {}, "Documents"), el("dd", {}, link(searchHref({action_line: line}), fmt(d.documents),
        {"aria-label": `${fmt(d.documents)} documents: list them`}))),
      ...roles.map((r) => el("div", {class: `stat-${r}`}, el("dt", {}, ROLE_NAMES[r]),
        el("dd", {}, link(searchHref({action_line: line, role: r}), fmt(d.by_role[r] || 0),
          {"aria-label": `${fmt(d.by_role[r] || 0)} ${ROLE_NAMES[r].toLowerCase()}: list them`}))))),
    el("p", {class: "by-kind"}, "By kind: ", ...kinds.flatMap(([k, n], i) => [i ? " · " : "",
      link(searchHref({action_line: line, kind: k}), `${fmt(n)} ${KIND_NAMES[k] || k}`)]),
      d.undated ? el("span", {class: "ctx"}, ` (${fmt(d.undated)} passages have no year)`) : ""));
}

function citedItem(c, role, openPassage) {
  return el("li", {class: "cited"},
    el("blockquote", {}, el("p", {}, ...snippetNodes(c.snippet || ""))),
    el("p", {class: "citation"}, "— ", link(docLink(c), c.citation || c.title),
      " ", el("button", {type: "button", class: "link", onclick: () => openPassage(c.passage_id),
        "aria-label": `Read this ${ROLE_ONE[role]} in context`}, "in context")));
}

function recentBlock(d, role, openPassage) {
  const items = d.recent[role] || [];
  const total = d.by_role[role] || 0;
  const id = `dash-${role}-h`;
  return el("section", {class: `recent recent-${role}`, "aria-labelledby": id},
    el("h2", {id}, `Most recent ${ROLE_NAMES[role].toLowerCase()}`),
    items.length ? el("ol", {class: "cited-list"}, ...items.map((c) => citedItem(c, role, openPassage)))
      : el("p", {class: "ctx"}, `No ${ROLE_NAMES[role].toLowerCase()} tagged on this line.`),
    total ? el("p", {}, link(searchHref({action_line: d.code, role}), `All ${fmt(total)} ${ROLE_NAMES[role].toLowerCase()} →`)) : null);
}

function sessionsBlock(d) {
  const id = "dash-igf-h";
  const sessions = d.igf_sessions;
  return el("section", {class: "sessions", "aria-labelledby": id},
    el("h2", {id}, "IGF sessions that discussed it"),
    sessions.length ? el("ol", {class: "session-list"}, ...sessions.map((s) => el("li", {},
      link(docLink({document_id: s.document_id}), s.title), s.year ? ` (${s.year})` : "", " ",
      link(docLink({document_id: s.document_id, passage_id: s.passage_id}), `${plural(s.passages, "passage")} on the line`,
        {class: "ctx-link", "aria-label": `${plural(s.passages, "passage")} on the line (${d.code}): open the session there`}),
      ...spaced(Object.entries(s.by_role).map(([r, n]) => link(docLink({document_id: s.document_id,
        passage_id: (s.passage_by_role || {})[r]}), `${n} ${r}`, {class: `badge role-${r}`}))))))
      : el("p", {class: "ctx"}, "No IGF session passages are tagged with this line."),
    d.igf_session_count ? el("p", {}, link(searchHref({action_line: d.code, kind: "igf_transcript"}),
      `All ${fmt(d.igf_session_count)} sessions, ${fmt(d.by_kind.igf_transcript || 0)} passages →`)) : null);
}

async function initiativesBlock(d) {
  const id = "dash-ini-h";
  const body = el("div", {class: "groups"}, el("p", {class: "ctx"}, "Loading…"));
  const n = (d.documents_by_kind || {}).stocktaking_entry || 0;
  const sec = el("section", {class: "initiatives", "aria-labelledby": id},
    el("h2", {id}, "Initiatives by problem"), body,
    n ? el("p", {}, link(searchHref({action_line: d.code, kind: "stocktaking_entry"}), `All ${fmt(n)} initiatives →`)) : null);
  (async () => {
    try {
      const g = await api(`/related/groups?action_line=${encodeURIComponent(d.code)}`);
      const member = (m) => el("li", {}, link(docLink(m), m.title),
        el("span", {class: "ctx"}, " " + [m.organisation, m.country, m.year].filter(Boolean).join(", ")));
      const parts = g.groups.map((x) => el("div", {class: "problem-group"},
        el("h3", {}, `${x.label} `, el("span", {class: "ctx"}, `(${plural(x.size, "initiative")})`)),
        el("ul", {}, ...x.initiatives.map(member))));
      if (g.ungrouped && g.ungrouped.length) {
        parts.push(el("details", {class: "ungrouped"}, el("summary", {}, `${g.ungrouped.length} initiatives on problems of their own`),
          el("ul", {}, ...g.ungrouped.map(member))));
      }
      body.replaceChildren(...(parts.length ? parts : [el("p", {class: "ctx"}, "No initiatives are tagged with this line.")]));
    } catch (e) {
      body.replaceChildren(el("p", {class: "ctx"}, `Initiatives not available: ${e.message}`));
    }
  })();
  return sec;
}

export async function renderDashboard(box, code, {openPassage}) {
  box.replaceChildren(el("p", {}, "Loading…"));
  let d;
  try {
    d = await api(`/action-lines/${encodeURIComponent(code || "")}`);
  } catch (e) {
    box.replaceChildren(el("h1", {}, "Action line not found"), el("p", {}, e.message),
      el("p", {}, link("/?view=lines", "All action lines")));
    return;
  }
  document.title = `${d.code}: ${d.name} - WSIS knowledge search`;
  const roleSeries = Object.keys(ROLE_NAMES).map((r) => ({key: r, name: ROLE_NAMES[r]}));
  const kindSeries = Object.keys(KIND_NAMES).map((k) => ({key: k, name: KIND_NAMES[k]}));
  const search = el("form", {class: "line-search", role: "search", onsubmit: (ev) => {
    ev.preventDefault();
    const q = ev.currentTarget.querySelector("input").value.trim();
    navTo(searchHref({q, action_line: d.code}));
  }}, el("label", {for: "line-q", class: "sr-only"}, `Search within ${d.code}`),
  el("input", {id: "line-q", type: "search", maxlength: "1000", placeholder: `Search within ${d.code}`}),
  el("button", {type: "submit"}, "Search"));
  box.replaceChildren(...[
    el("p", {class: "crumbs"}, link("/?view=lines", "Action lines"), " › ", d.code),
    el("h1", {}, `${d.code}: ${d.name}`),
    el("p", {class: "line-text"}, d.description),
    el("p", {class: "facilitators"}, el("span", {class: "label"}, "Facilitators: "),
      ...spaced(d.facilitators.map((f) => el("span", {class: "chip"}, f)))),
    d.sub_lines.length ? el("p", {}, "Sub-lines: ", ...d.sub_lines.flatMap((s, i) => [i ? ", " : "",
      link(`/?view=line&code=${encodeURIComponent(s)}`, s.slice(3))])) : null,
    search,
    numbers(d),
    el("div", {class: "dash-charts"},
      yearChart({data: d.year_role, series: roleSeries, caption: "Passages per year, by role", undated: d.undated,
        note: d.by_role.none ? `${plural(d.by_role.none, "passage")} with no role are left out.` : "",
        href: (y) => searchHref({action_line: d.code, year: y}),
        cellHref: (y, r) => searchHref({action_line: d.code, year: y, role: r}),
        seriesHref: (r) => searchHref({action_line: d.code, role: r})}),
      yearChart({data: d.year_kind, series: kindSeries, caption: "Passages per year, by kind", undated: d.undated,
        href: (y) => searchHref({action_line: d.code, year: y}),
        cellHref: (y, k) => searchHref({action_line: d.code, year: y, kind: k}),
        seriesHref: (k) => searchHref({action_line: d.code, kind: k})})),
    el("div", {class: "dash-recent"}, recentBlock(d, "recommendation", openPassage), recentBlock(d, "challenge", openPassage)),
    el("div", {class: "dash-lower"}, await initiativesBlock(d), sessionsBlock(d))].filter(Boolean));
}
