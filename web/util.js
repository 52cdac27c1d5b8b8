// Small helpers shared by the page's modules (ES modules, no build step).
// Rule: text from documents is only ever inserted as text nodes (never innerHTML); highlights are
// rebuilt from the server's escaped snippet as text nodes and <mark> elements. No inline styles: the
// page's Content-Security-Policy has no 'unsafe-inline'; presentation goes through classes in style.css.

export const KIND_NAMES = {action_line_report: "Report", igf_transcript: "IGF session",
  stocktaking_entry: "Initiative", reference: "Reference"};

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return node;
}
export const $ = (id) => document.getElementById(id);
export const fmt = (n) => Number(n || 0).toLocaleString("en");
export const plural = (n, one, many) => `${fmt(n)} ${Number(n) === 1 ? one : (many || one + "s")}`;
// items separated by a space (chips must not run together when read as text)
export const spaced = (nodes) => nodes.flatMap((n, i) => (i ? [" ", n] : [n]));

export function decodeEntities(s) {
  return s.replace(/&(lt|gt|quot|#x27|#39|amp);/g, (m, e) =>
    ({lt: "<", gt: ">", quot: '"', "#x27": "'", "#39": "'", amp: "&"})[e]);
}

// The server sends snippets HTML-escaped with <mark> around query terms; rebuild them as DOM nodes.
export function snippetNodes(snippet) {
  const out = [];
  const re = /<mark>(.*?)<\/mark>/g;
  let pos = 0, m;
  while ((m = re.exec(snippet)) !== null) {
    out.push(document.createTextNode(decodeEntities(snippet.slice(pos, m.index))));
    out.push(el("mark", {}, decodeEntities(m[1])));
    pos = re.lastIndex;
  }
  out.push(document.createTextNode(decodeEntities(snippet.slice(pos))));
  return out;
}

export async function api(path, opts) {
  const r = await fetch(path, opts);
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) {
    const msg = body && body.error ? body.error.message : `HTTP ${r.status}`;
    throw new Error(msg);
  }
  return body;
}

export function where(c) {
  if (c.page) return `page ${c.page}`;
  if (c.speaker) return c.speaker;
  return "";
}

export function docLink(c) {
  const p = new URLSearchParams({view: "doc", doc: c.document_id});
  if (c.passage_id) p.set("p", c.passage_id);
  return `/?${p}`;
}

// In-page navigation: links keep their real href (open in a new tab works); a plain click pushes the
// URL and lets the router (registered by app.js) render the view.
let router = () => {};
export function setRouter(fn) { router = fn; }
export function navTo(href) {
  history.pushState(null, "", href);
  router();
}
export function navLink(ev) {
  if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
  ev.preventDefault();
  navTo(ev.currentTarget.getAttribute("href"));
}

// The address of the search view for some filters ({action_line: "C5", role: "recommendation",
// year: 2020, kind: ...}): with no query the page lists the passages inside the filters.
export function searchHref(f) {
  const p = new URLSearchParams();
  if (f.q) p.set("q", f.q);
  for (const key of ["action_line", "kind", "role", "country"]) {
    for (const v of [].concat(f[key] || [])) p.append(key, v);
  }
  if (f.year) { p.set("year_from", f.year); p.set("year_to", f.year); }
  if (f.year_from) p.set("year_from", f.year_from);
  if (f.year_to) p.set("year_to", f.year_to);
  return `/?${p}`;
}
