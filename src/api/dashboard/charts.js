// fedmesh dashboard charts: SVG drawn in the page from a job's numbers, no library.
// Each function returns a <figure class="chart" data-chart=KIND>; app.js places them.
"use strict";

// A number as a person reads it: integers whole, others to 4 significant digits; never cut.
function num(x) {
  if (x === null || x === undefined) return "–";
  if (typeof x !== "number") return String(x);
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(4)));
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const last = (xs) => (xs && xs.length ? xs[xs.length - 1] : null);

const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

// A round step between grid lines: 1, 2 or 5 times a power of ten, about `count` of them up to `max`.
function niceStep(max, count) {
  const raw = max / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p;
}

// <figure class="chart" data-chart=KIND><figcaption>CAPTION</figcaption><svg>...</svg></figure>
function figure(kind, caption, width, height) {
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": caption });
  const fig = document.createElement("figure");
  fig.className = "chart";
  fig.dataset.chart = kind;
  const title = document.createElement("figcaption");
  title.textContent = caption;
  fig.append(title, root);
  return { fig, root };
}

// Horizontal grid lines and their labels from `lo` to `hi` for a y scale.
function yGrid(root, lo, hi, y, left, right) {
  const step = niceStep(hi - lo || 1, 4);
  for (let i = Math.ceil(lo / step); i * step <= hi + step * 1e-9; ++i) {
    const v = i * step;
    root.append(svg("line", { class: "grid", x1: left, x2: right, y1: y(v), y2: y(v) }),
      svg("text", { class: "tick", x: left - 6, y: y(v) + 4, "text-anchor": "end" }, num(Number(v.toPrecision(12)))));
  }
}

// A histogram: one bar per bin, the edges under the bars' sides, the count over each bar.
function histogramChart(column, edges, counts) {
  const W = 440, H = 250, m = { l: 52, r: 12, t: 20, b: 40 };
  const { fig, root } = figure("histogram", "Histogram of " + column, W, H);
  const top = Math.max(1, ...counts);
  const bw = (W - m.l - m.r) / counts.length;
  const x = (i) => m.l + i * bw;
  const y = (v) => H - m.b - (v * (H - m.t - m.b)) / top;
  yGrid(root, 0, top, y, m.l, W - m.r);
  const labelled = counts.length <= 24;
  const every = Math.ceil(edges.length / 12);
  counts.forEach((c, i) => {
    root.append(svg("rect", { class: "bar", x: x(i) + 1, width: Math.max(1, bw - 2), y: y(c), height: y(0) - y(c) },
      svg("title", {}, num(edges[i]) + " to " + num(edges[i + 1]) + ": " + num(c))));
    if (labelled) root.append(svg("text", { class: "value", x: x(i) + bw / 2, y: y(c) - 4, "text-anchor": "middle" }, num(c)));
  });
  edges.forEach((e, i) => {
    if (i % every !== 0 && i !== edges.length - 1) return;
    root.append(svg("text", { class: "edge", x: x(i), y: H - m.b + 16, "text-anchor": "middle" }, num(e)));
  });
  root.append(svg("text", { class: "axis", x: (m.l + W - m.r) / 2, y: H - 6, "text-anchor": "middle" }, column),
    svg("line", { class: "axis-line", x1: m.l, x2: W - m.r, y1: y(0), y2: y(0) }));
  return fig;
}

// Signed horizontal bars: a name on the left, the value on the right, zero in between.
function barsChart(kind, caption, rows, domain) {
  const W = 440, row = 26, m = { t: 8, b: 10 };
  const nameW = Math.min(150, 16 + 7 * Math.max(...rows.map((r) => r.label.length))), valueW = 76;
  const H = m.t + m.b + row * rows.length;
  const { fig, root } = figure(kind, caption, W, H);
  const values = rows.map((r) => r.value || 0);
  const lo = domain ? domain[0] : Math.min(0, ...values), hi = domain ? domain[1] : Math.max(0, ...values);
  const x = (v) => nameW + ((v - lo) * (W - nameW - valueW)) / (hi - lo || 1);
  rows.forEach((r, i) => {
    const yy = m.t + i * row, v = r.value || 0;
    root.append(svg("text", { class: "label", x: nameW - 8, y: yy + row / 2 + 4, "text-anchor": "end" }, r.label),
      svg("rect", { class: "bar" + (v < 0 ? " negative" : ""), x: Math.min(x(0), x(v)), width: Math.abs(x(v) - x(0)),
                    y: yy + 4, height: row - 8 }),
      svg("text", { class: "value", x: W - 4, y: yy + row / 2 + 4, "text-anchor": "end" }, num(r.value)));
  });
  root.append(svg("line", { class: "axis-line", x1: x(0), x2: x(0), y1: m.t, y2: H - m.b }));
  return fig;
}

// One value per round, as points on a line; the last one labelled.
function roundsChart(kind, caption, values, hi) {
  const W = 440, H = 220, m = { l: 52, r: 60, t: 20, b: 40 };
  const { fig, root } = figure(kind, caption, W, H);
  const top = hi !== undefined ? hi : Math.max(...values) * 1.1 || 1;
  const x = (i) => m.l + (values.length === 1 ? 0 : (i * (W - m.l - m.r)) / (values.length - 1));
  const y = (v) => H - m.b - (v * (H - m.t - m.b)) / top;
  yGrid(root, 0, top, y, m.l, W - m.r);
  root.append(svg("polyline", { class: "line", points: values.map((v, i) => x(i) + "," + y(v)).join(" ") }));
  values.forEach((v, i) => root.append(svg("circle", { class: "point", cx: x(i), cy: y(v), r: 3 },
    svg("title", {}, "round " + (i + 1) + ": " + num(v)))));
  const every = Math.max(1, niceStep(values.length, 8));
  values.forEach((v, i) => {
    if ((i + 1) % every === 0 || (i === 0 && every > 2))
      root.append(svg("text", { class: "edge", x: x(i), y: H - m.b + 16, "text-anchor": "middle" }, i + 1));
  });
  root.append(svg("text", { class: "value", x: x(values.length - 1) + 8, y: y(last(values)) + 4 }, num(last(values))),
    svg("text", { class: "axis", x: (m.l + W - m.r) / 2, y: H - 6, "text-anchor": "middle" }, "round"));
  return fig;
}

// The ROC plane: chance, the curve when the score bins are at hand, and the model's point at threshold 0.5.
function rocChart(auc, point, curve) {
  const S = 240, m = { l: 52, r: 20, t: 16, b: 66 };
  const W = m.l + S + m.r, H = m.t + S + m.b;
  const { fig, root } = figure("roc", "ROC · AUC " + num(auc), W, H);
  const x = (v) => m.l + v * S, y = (v) => m.t + (1 - v) * S;
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    root.append(svg("line", { class: "grid", x1: x(0), x2: x(1), y1: y(v), y2: y(v) }),
      svg("line", { class: "grid", x1: x(v), x2: x(v), y1: y(0), y2: y(1) }),
      svg("text", { class: "tick", x: x(0) - 6, y: y(v) + 4, "text-anchor": "end" }, num(v)),
      svg("text", { class: "tick", x: x(v), y: y(0) + 16, "text-anchor": "middle" }, num(v)));
  }
  root.append(svg("line", { class: "chance", x1: x(0), y1: y(0), x2: x(1), y2: y(1) }));
  if (curve) root.append(svg("polyline", { class: "line roc-curve", points: curve.map(([f, t]) => x(f) + "," + y(t)).join(" ") }));
  // The point, and its legend under the plot where no line crosses it.
  if (point) {
    root.append(svg("circle", { class: "point", cx: x(point.fpr), cy: y(point.tpr), r: 4 }),
      svg("circle", { class: "legend-dot", cx: x(0) - 40, cy: H - 12, r: 4 }),
      svg("text", { class: "value", x: x(0) - 30, y: H - 8 }, "at threshold 0.5: ",
        svg("tspan", { class: "tpr" }, "TPR " + num(point.tpr)), ", ", svg("tspan", { class: "fpr" }, "FPR " + num(point.fpr))));
  }
  root.append(svg("text", { class: "axis", x: x(0.5), y: H - 32, "text-anchor": "middle" }, "false positive rate"),
    svg("text", { class: "axis", x: 14, y: y(0.5), "text-anchor": "middle", transform: `rotate(-90 14 ${y(0.5)})` }, "true positive rate"));
  if (!curve) {
    const note = document.createElement("p");
    note.className = "muted small note";
    note.style.maxWidth = W + "px";
    note.textContent = "The point at threshold 0.5. The curve needs the score bins, " +
      "which stay at the aggregator unless jobs.allow_partial_results is on.";
    fig.append(note);
  }
  return fig;
}
