// Stacked bars per year as SVG: a y axis with ticks and values, years on the x axis, each bar's total
// above it, the counts of the year under the pointer or the keyboard focus in a read-out line, and each
// year a link (click a bar: the passages of that year). Colours come from classes in style.css (s-KEY),
// never from style attributes: the page's Content-Security-Policy forbids inline styles.
import {el, fmt, navLink} from "./util.js";

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...children) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    n.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return n;
}

// A round axis maximum and step: 1, 2 or 5 x 10^k, at most 4 steps.
function niceScale(max) {
  if (max <= 0) return {top: 1, step: 1};
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const st = Math.max(1, step);
  return {top: Math.ceil(max / st) * st, step: st};
}

/**
 * yearChart({data: {"2020": {key: n}}, series: [{key, name}], caption, href(year), cellHref(year, key),
 *            seriesHref(key), selected: year|null, unit: "passages", undated: n, note: "...", compact: bool})
 * returns a <figure> holding the chart, its legend (totals per series), the read-out line and a
 * <details> table of the same counts (every cell a link when cellHref is given).
 */
export function yearChart(opts) {
  const {data, series, caption, href, cellHref, seriesHref, selected} = opts;
  const unit = opts.unit || "passages";
  const years = Object.keys(data).map(Number).filter((y) => series.some((s) => (data[y][s.key] || 0) > 0))
    .sort((a, b) => a - b);
  const fig = el("figure", {class: "chart"});
  if (caption) fig.append(el("figcaption", {}, caption));
  if (!years.length) {
    fig.append(el("p", {class: "ctx"}, `No dated ${unit}.`));
    return fig;
  }
  const first = years[0], last = years[years.length - 1];
  // a continuous axis (gaps show as gaps) unless the span is too wide to read
  const axis = last - first + 1 <= 40 ? Array.from({length: last - first + 1}, (_, i) => first + i) : years;
  const total = (y) => series.reduce((a, s) => a + ((data[y] || {})[s.key] || 0), 0);
  const max = Math.max(...years.map(total));
  const {top, step} = niceScale(max);
  // drawn for the width it will have: on a phone the same 12px text in a narrower drawing
  const narrow = window.matchMedia("(max-width: 600px)").matches;
  const W = narrow ? 360 : 640, H = opts.compact ? (narrow ? 150 : 170) : (narrow ? 200 : 210), L = 58, R = 8, T = 18, B = 26;
  const pw = W - L - R, ph = H - T - B;
  const colW = pw / axis.length;
  const bw = Math.max(3, Math.min(56, colW * 0.72));
  const yPos = (v) => T + ph - (v / top) * ph;
  const hint = (href ? "Point at or focus a bar for its counts; click it to list those passages." :
    "Point at or focus a bar for its counts.") + (opts.undated ? ` ${fmt(opts.undated)} ${opts.undated === 1 ? unit.replace(/s$/, "") + " without a year is" : unit + " without a year are"} not shown.` : "") +
    (opts.note ? ` ${opts.note}` : "");
  const readout = el("p", {class: "readout", "aria-hidden": "true"}, hint);
  const describe = (y) => {
    const parts = series.map((s) => [s.name, (data[y] || {})[s.key] || 0]).filter(([, n]) => n > 0)
      .map(([name, n]) => `${name} ${fmt(n)}`);
    return `${y}: ${fmt(total(y))} ${unit}` + (parts.length > 1 ? ` (${parts.join(", ")})` : parts.length ? ` (${parts[0]})` : "");
  };
  const root = svg("svg", {viewBox: `0 0 ${W} ${H}`, class: "chart-svg", role: "group",
    "aria-label": `${caption || unit}: ${fmt(years.reduce((a, y) => a + total(y), 0))} ${unit} from ${first} to ${last}`});
  // y axis: gridlines, tick values, a title
  const grid = svg("g", {class: "axis y-axis", "aria-hidden": "true"});
  for (let v = 0; v <= top + 1e-9; v += step) {
    const y = yPos(v);
    grid.append(svg("line", {x1: L, x2: W - R, y1: y, y2: y, class: v === 0 ? "baseline" : "gridline"}),
      svg("text", {x: L - 6, y: y + 4, "text-anchor": "end"}, fmt(v)));
  }
  grid.append(svg("text", {x: 12, y: T + ph / 2, "text-anchor": "middle", class: "axis-title",
    transform: `rotate(-90 12 ${T + ph / 2})`}, unit));
  root.append(grid);
  // x axis labels: every year when they fit, else the years with bars and the ends, without overlaps
  const xl = svg("g", {class: "axis x-axis", "aria-hidden": "true"});
  let lastX = -Infinity;
  axis.forEach((y, i) => {
    const cx = L + colW * (i + 0.5);
    const want = axis.length <= 14 || total(y) > 0 || y === first || y === last;
    if (want && cx - lastX >= 34) {
      xl.append(svg("text", {x: cx, y: H - 8, "text-anchor": "middle"}, String(y)));
      lastX = cx;
    }
  });
  root.append(xl);
  // one link per year with bars: a full-height hit area, the stacked segments, the total above
  axis.forEach((y, i) => {
    const t = total(y);
    if (!t) return;
    const x = L + colW * i + (colW - bw) / 2;
    const label = describe(y);
    const a = svg("a", {href: href ? href(y) : null, class: "bar" + (String(selected) === String(y) ? " selected" : ""),
      "aria-label": `${label}. Show them`});
    a.append(svg("title", {}, label), svg("rect", {class: "hit", x: L + colW * i, y: T, width: colW, height: ph}));
    let acc = 0;
    for (const s of series) {
      const n = (data[y] || {})[s.key] || 0;
      if (!n) continue;
      const y0 = yPos(acc + n), h = Math.max(1, yPos(acc) - yPos(acc + n));
      a.append(svg("rect", {class: `seg s-${s.key}`, x, y: y0, width: bw, height: h}));
      acc += n;
    }
    a.append(svg("text", {class: "val", x: x + bw / 2, y: yPos(t) - 4, "text-anchor": "middle"}, fmt(t)));
    const show = () => { readout.textContent = label + (href ? " · click to list them" : ""); a.classList.add("active"); };
    const hide = () => { a.classList.remove("active"); readout.textContent = hint; };
    a.addEventListener("mouseenter", show);
    a.addEventListener("focus", show);
    a.addEventListener("mouseleave", hide);
    a.addEventListener("blur", hide);
    if (href) a.addEventListener("click", navLink);
    root.append(a);
  });
  fig.append(el("div", {class: "chart-box"}, root), readout);
  // legend: one swatch per series with its total (a link to those passages when seriesHref is given)
  const sums = Object.fromEntries(series.map((s) => [s.key, years.reduce((a, y) => a + ((data[y] || {})[s.key] || 0), 0)]));
  fig.append(el("ul", {class: "legend"}, ...series.filter((s) => sums[s.key] > 0).map((s) =>
    el("li", {}, el("span", {class: `sw s-${s.key}`, "aria-hidden": "true"}), `${s.name} `,
      seriesHref ? el("a", {href: seriesHref(s.key), onclick: navLink, "aria-label": `${fmt(sums[s.key])} ${s.name} ${unit}`},
        fmt(sums[s.key])) : el("span", {class: "count"}, fmt(sums[s.key]))))));
  // the same counts as a table (screen readers, exact figures), every number a link
  const cell = (y, key, n) => (n && cellHref ? el("a", {href: cellHref(y, key), onclick: navLink}, fmt(n)) : fmt(n));
  fig.append(el("details", {class: "chart-table"}, el("summary", {}, "Table of these counts"),
    el("div", {class: "table-scroll"}, el("table", {},
      el("thead", {}, el("tr", {}, el("th", {scope: "col"}, "Year"),
        ...series.filter((s) => sums[s.key] > 0).map((s) => el("th", {scope: "col"}, s.name)), el("th", {scope: "col"}, "All"))),
      el("tbody", {}, ...years.map((y) => el("tr", {}, el("th", {scope: "row"}, String(y)),
        ...series.filter((s) => sums[s.key] > 0).map((s) => el("td", {}, cell(y, s.key, (data[y] || {})[s.key] || 0))),
        el("td", {}, href ? el("a", {href: href(y), onclick: navLink}, fmt(total(y))) : fmt(total(y))))))))));
  return fig;
}
