"use strict";
// Hover, zoom and the #a..b comparison over the data `cargo xtask report` embedded.
const data = JSON.parse(document.getElementById("data").textContent);
const tooltip = document.getElementById("tooltip");
const SVG = "http://www.w3.org/2000/svg";

function svgPoint(svg, event) {
  const point = svg.createSVGPoint();
  point.x = event.clientX;
  point.y = event.clientY;
  return point.matrixTransform(svg.getScreenCTM().inverse());
}

function showTooltip(lines, event) {
  tooltip.replaceChildren(...lines.map((line, i) => {
    const div = document.createElement("div");
    div.textContent = line;
    if (i === 0) div.className = "subject";
    return div;
  }));
  tooltip.hidden = false;
  tooltip.style.left = event.pageX + 14 + "px";
  tooltip.style.top = event.pageY + 14 + "px";
}

for (const figure of document.querySelectorAll("figure.chart")) {
  const chart = data.charts[Number(figure.dataset.chart)];
  const svg = figure.querySelector("svg");
  const [width, height] = [svg.viewBox.baseVal.width, svg.viewBox.baseVal.height];
  const marker = document.createElementNS(SVG, "circle");
  marker.setAttribute("r", "6");
  marker.setAttribute("class", "hovered");
  marker.style.display = "none";
  svg.appendChild(marker);
  const hide = () => {
    marker.style.display = "none";
    tooltip.hidden = true;
  };
  svg.addEventListener("mousemove", (event) => {
    const at = svgPoint(svg, event);
    let best = null;
    let bestDistance = Infinity;
    for (const hover of chart.hover) {
      // Nearest by commit first: a reader follows the axis, not the value.
      const distance = Math.abs(hover.x - at.x) + Math.abs(hover.y - at.y) * 0.2;
      if (distance < bestDistance) {
        best = hover;
        bestDistance = distance;
      }
    }
    if (!best || Math.abs(best.x - at.x) > 40) return hide();
    marker.setAttribute("cx", best.x);
    marker.setAttribute("cy", best.y);
    marker.style.display = "";
    showTooltip(best.lines, event);
  });
  svg.addEventListener("mouseleave", hide);
  figure.addEventListener("click", () => {
    figure.classList.toggle("wide");
    if (!figure.classList.contains("wide")) svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  });
  svg.addEventListener("wheel", (event) => {
    if (!figure.classList.contains("wide")) return;
    event.preventDefault();
    const box = svg.viewBox.baseVal;
    const at = svgPoint(svg, event);
    const factor = Math.min(event.deltaY < 0 ? 0.8 : 1.25, width / box.width);
    const x = Math.max(0, Math.min(width - box.width * factor, at.x - (at.x - box.x) * factor));
    const y = Math.max(0, Math.min(height - box.height * factor, at.y - (at.y - box.y) * factor));
    svg.setAttribute("viewBox", `${x} ${y} ${box.width * factor} ${box.height * factor}`);
  }, { passive: false });
  svg.addEventListener("dblclick", (event) => {
    event.stopPropagation();
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  });
}

// A commit named in the hash: a unique prefix of its hash, `+` for its uncommitted changes.
function findStop(name) {
  const dirty = name.endsWith("+");
  const hash = (dirty ? name.slice(0, -1) : name).toLowerCase();
  if (hash.length < 4) return -1;
  const found = data.stops.flatMap((s, i) => (s.dirty === dirty && s.commit.startsWith(hash) ? [i] : []));
  return found.length === 1 ? found[0] : -1;
}

// A figure's point at a stop in one environment: its own, else the latest committed one
// before it (the table then says which commit it is from).
function pointAt(figure, stop, environment) {
  let found = null;
  for (const value of figure.values) {
    const [at, , , env, dirty] = value;
    if (at > stop || (environment !== null && env !== environment)) continue;
    if (dirty && at !== stop) continue;
    found = value;
  }
  return found;
}

function verdict(figure, a, b) {
  if (!a || !b) return "not measured";
  if (figure.threshold === null) return "noise unknown";
  const change = b[1] - a[1];
  if (Math.abs(change) <= figure.threshold) return "unchanged";
  return (change < 0) === figure.lower_is_better ? "better" : "worse";
}

function shown(point, stop) {
  if (!point) return "-";
  return point[0] === stop ? point[2] : `${point[2]} (at ${data.stops[point[0]].label})`;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
}

function compare() {
  const out = document.getElementById("comparison");
  for (const band of document.querySelectorAll("rect.range")) band.remove();
  let hash = "";
  try {
    hash = decodeURIComponent(location.hash.slice(1));
  } catch (_) {
    hash = location.hash.slice(1);
  }
  const match = hash.match(/^([0-9a-f]+\+?)\.\.([0-9a-f]+\+?)$/i);
  if (!match) return out.replaceChildren();
  const [a, b] = [findStop(match[1]), findStop(match[2])];
  if (a < 0 || b < 0) {
    out.textContent = `No measured commit is named ${a < 0 ? match[1] : match[2]} (or more than one is).`;
    return;
  }
  document.getElementById("a").value = data.stops[a].label;
  document.getElementById("b").value = data.stops[b].label;
  const order = { worse: 0, better: 1, unchanged: 2, "noise unknown": 3, "not measured": 4 };
  // Both sides from B's environment: figures of two machines are never compared.
  const rows = data.figures.map((figure) => {
    const bt = pointAt(figure, b, null);
    const at = bt ? pointAt(figure, a, bt[3]) : null;
    return { figure, at, bt, verdict: verdict(figure, at, bt) };
  }).sort((x, y) => order[x.verdict] - order[y.verdict]);
  const table = document.createElement("table");
  table.className = "comparison";
  const header = table.insertRow();
  for (const title of ["figure", data.stops[a].label, data.stops[b].label, "ratio", "verdict"]) {
    const th = document.createElement("th");
    th.textContent = title;
    header.appendChild(th);
  }
  for (const row of rows) {
    const tr = table.insertRow();
    tr.className = row.verdict;
    cell(tr, `${row.figure.gate}: ${row.figure.title}`);
    cell(tr, shown(row.at, a));
    cell(tr, shown(row.bt, b));
    cell(tr, row.at && row.bt && row.at[1] !== 0 ? (row.bt[1] / row.at[1]).toFixed(4) : "-");
    cell(tr, row.verdict, row.verdict);
  }
  const caption = document.createElement("p");
  caption.textContent = `${data.stops[a].label} ${data.stops[a].subject} .. ${data.stops[b].label} ${data.stops[b].subject}`;
  out.replaceChildren(caption, table);
  // The compared range, shaded on every chart.
  for (const figure of document.querySelectorAll("figure.chart")) {
    const chart = data.charts[Number(figure.dataset.chart)];
    const [from, to] = [Math.min(a, b), Math.max(a, b)];
    const band = document.createElementNS(SVG, "rect");
    band.setAttribute("class", "range");
    band.setAttribute("x", chart.x0 + chart.dx * (from - 0.5));
    band.setAttribute("width", chart.dx * (to - from + 1));
    band.setAttribute("y", chart.top);
    band.setAttribute("height", chart.bottom - chart.top);
    // Just above the white background plotters draws first, under everything else.
    figure.querySelector("svg").firstElementChild.after(band);
  }
}

document.getElementById("compare-form").addEventListener("submit", (event) => {
  event.preventDefault();
  location.hash = `${document.getElementById("a").value}..${document.getElementById("b").value}`;
});
// Without a hash, the selects offer the oldest and the newest commit.
const selectB = document.getElementById("b");
selectB.selectedIndex = selectB.options.length - 1;
window.addEventListener("hashchange", compare);
compare();
