// instruments.js: loaded after player.js into the live chart component (see live_chart.py).
// ---- instruments (issue 12): arrows at the shown step and the step inspector ----------
// A run recorded with record_state carries `arrows` (gradient, update, momentum-like
// buffer per shown step) and `inspect` (its update rule as template lines + the values
// per shown step, see step_inspector.py). Both follow the player's shown step here in the
// browser; nothing reruns. Kept apart from the pace control above to ease merges.
const ARROW_GRAD_PX = 70; // −gradient: its direction, at a fixed length
const ARROW_BUFFER_PX = 55; // −buffer (momentum_buffer / exp_avg): its direction
const ARROW_MIN_PX = 6; // the update is drawn to scale, but never shorter than this

function decodeList(list) {
  return (list || []).map((a) => decode(a));
}

function instrumentsDecode(r) {
  const out = {};
  if (r.arrows) {
    out.arrows = { ...r.arrows, grad: decodeList(r.arrows.grad), update: decodeList(r.arrows.update) };
    if (r.arrows.buffer) out.arrows.buffer = decodeList(r.arrows.buffer);
  }
  if (r.inspect) {
    const values = {};
    for (const [k, v] of Object.entries(r.inspect.values || {})) values[k] = decodeList(v);
    out.inspect = { ...r.inspect, values };
  }
  return out;
}

function fmt4(v) {
  // 4 significant digits, as Python's f"{v:.4g}" (step_inspector.fmt)
  if (v === undefined || v === null || !Number.isFinite(v)) return "—";
  // both round half away from zero on the exact value (step_inspector.fmt does the same)
  const sci = v.toExponential(3);
  const e = Number(sci.split("e")[1]);
  let s;
  if (v !== 0 && (e < -4 || e >= 4)) {
    s = sci.replace(/\.?0+e/, "e").replace(/e([+-])(\d)$/, "e$10$2");
  } else {
    s = String(Number(v.toPrecision(4)));
  }
  return s.replace(/-/g, "−");
}

function inspectLine(line, values, k) {
  return line.replace(/\{(\w+)\}/g, (whole, name) => {
    const parts = values[name];
    if (!parts) return whole;
    const nums = parts.map((p) => fmt4(k >= 0 && k < p.length ? p[k] : NaN));
    return nums.length === 1 ? nums[0] : `(${nums.join(", ")})`;
  });
}

function inspectorBox(st) {
  const parent = st.gd.parentElement; // below the chart
  let box = parent.querySelector(":scope > .optlab-inspector");
  if (!box) {
    box = document.createElement("div");
    box.className = "optlab-inspector";
    box.setAttribute("data-testid", "optlab-inspector");
    parent.append(box);
  }
  return box;
}

function recorded(k, series) {
  // the final point (after the last update) has no update of its own: show the last one
  return k >= 1 && series && !Number.isFinite(series[k]) && Number.isFinite(series[k - 1]) ? k - 1 : k;
}

function inspectorRender(st, shown) {
  const runs = st.pl.runs.filter((r) => r.inspect);
  const box = inspectorBox(st);
  if (!runs.length) {
    box.style.display = "none";
    return;
  }
  box.style.display = "";
  const parts = [];
  for (const r of runs) {
    const k = recorded(count(r.step, shown) - 1, r.inspect.values.t[0]);
    const lines = [r.inspect.title, ...r.inspect.lines].map((l) => escapeHtml(inspectLine(l, r.inspect.values, k)));
    parts.push(
      `<div class="optlab-inspector-run" data-run="${escapeHtml(r.label)}" data-step="${k >= 0 ? r.step[k] : ""}">` +
        `<b style="color:${r.color}">●</b> <b>${lines[0]}</b><pre>${lines.slice(1).join("\n")}</pre></div>`,
    );
  }
  parts.push(
    `<div class="optlab-inspector-key">arrows at the shown point: ━ the update (to scale) · ` +
      `╌ −gradient (direction) · ┈ −momentum buffer / −m (direction)</div>`,
  );
  box.innerHTML = parts.join("");
}

function arrowsCanvas(st) {
  const gd = st.gd;
  let cv = st.arrowCanvas;
  if (!cv) {
    cv = st.arrowCanvas = document.createElement("canvas");
    cv.className = "optlab-arrows";
    cv.setAttribute("data-testid", "optlab-arrows");
    cv.style.position = "absolute";
    cv.style.pointerEvents = "none";
    gd.parentElement.style.position = "relative";
    gd.parentElement.append(cv);
  }
  return [cv, overPlot(gd, cv)]; // player.js: the plot area's box, as the paths' canvas
}

function arrow(ctx, x0, y0, dx, dy, color, dash, width) {
  const len = Math.hypot(dx, dy);
  if (!(len > 0)) return null;
  const x1 = x0 + dx;
  const y1 = y0 + dy;
  const head = Math.min(10, 0.45 * len + 4);
  const a = Math.atan2(dy, dx);
  ctx.setLineDash(dash);
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.beginPath();
  ctx.moveTo(x1, y1);
  ctx.lineTo(x1 - head * Math.cos(a - 0.45), y1 - head * Math.sin(a - 0.45));
  ctx.lineTo(x1 - head * Math.cos(a + 0.45), y1 - head * Math.sin(a + 0.45));
  ctx.closePath();
  ctx.fillStyle = color;
  ctx.fill();
  return [Math.round(x1 * 10) / 10, Math.round(y1 * 10) / 10];
}

function arrowsPaint(st, shown) {
  const runs = st.pl.runs.filter((r) => r.arrows);
  if (!runs.length) {
    if (st.arrowCanvas) st.arrowCanvas.style.display = "none";
    return;
  }
  const fl = st.gd._fullLayout;
  const [cv, ctx] = arrowsCanvas(st);
  cv.style.display = "block";
  const xa = fl.xaxis;
  const ya = fl.yaxis;
  const drawn = [];
  for (const r of runs) {
    const k = recorded(count(r.step, shown) - 1, r.arrows.update[0]);
    if (k < 0) continue;
    const x = r.x[k];
    const y = r.y[k];
    const px = xa.l2p(x);
    const py = ya.l2p(y);
    // pixels per data unit along each axis (linear axes)
    const kx = xa.l2p(x + 1) - px;
    const ky = ya.l2p(y + 1) - py;
    const at = (v) => [v[0][k], v[1][k]];
    const toPx = ([vx, vy]) => [vx * kx, vy * ky];
    const fixed = ([dx, dy], L) => {
      const n = Math.hypot(dx, dy);
      return n > 0 ? [(dx / n) * L, (dy / n) * L] : [0, 0];
    };
    const out = { label: r.label, step: r.step[k] };
    const [gx, gy] = at(r.arrows.grad);
    if (Number.isFinite(gx) && Number.isFinite(gy)) {
      const [dx, dy] = fixed(toPx([-gx, -gy]), ARROW_GRAD_PX);
      out.grad = arrow(ctx, px, py, dx, dy, r.color, [7, 5], 2.5);
    }
    if (r.arrows.buffer) {
      const [bx, by] = at(r.arrows.buffer);
      if (Number.isFinite(bx) && Number.isFinite(by)) {
        const [dx, dy] = fixed(toPx([-bx, -by]), ARROW_BUFFER_PX);
        out.buffer = arrow(ctx, px, py, dx, dy, r.color, [2, 4], 2.5);
      }
    }
    const [ux, uy] = at(r.arrows.update);
    if (Number.isFinite(ux) && Number.isFinite(uy)) {
      let [dx, dy] = toPx([ux, uy]);
      const n = Math.hypot(dx, dy);
      if (n > 0 && n < ARROW_MIN_PX) [dx, dy] = fixed([dx, dy], ARROW_MIN_PX);
      ctx.shadowColor = "#fff";
      ctx.shadowBlur = 3;
      out.update = arrow(ctx, px, py, dx, dy, r.color, [], 3.5);
      ctx.shadowBlur = 0;
    }
    drawn.push(out);
  }
  cv.dataset.step = String(shown);
  cv.dataset.arrows = JSON.stringify(drawn);
}

function instrumentsDraw(st, shown) {
  if (!st.pl || !st.gd._fullLayout || !st.bar) return;
  arrowsPaint(st, shown);
  inspectorRender(st, shown);
}

const INSTRUMENTS_CSS = `
.optlab-inspector { margin-top: 4px; font-size: 0.9rem; }
.optlab-inspector-run pre { margin: 2px 0 6px 0; padding: 4px 8px; white-space: pre-wrap;
  font-size: 0.85rem; background: var(--optlab-button, #f4f4f4); border-radius: 6px; }
.optlab-inspector-key { font-size: 0.8rem; opacity: 0.8; }
`;

function instrumentsStyle() {
  if (document.getElementById("optlab-instruments-css")) return;
  const style = document.createElement("style");
  style.id = "optlab-instruments-css";
  style.textContent = INSTRUMENTS_CSS;
  document.head.append(style);
}
