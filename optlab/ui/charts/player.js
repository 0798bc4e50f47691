// optlab pace control (see player.py): plays a contour's trajectories at a human pace
// in the browser, without any Streamlit rerun. The shown step is broadcast as an
// "optlab:step" window event; charts declared with a `cursor` group draw a line there.
const P = (window.__optlabPlayer ??= { active: null, steps: new Map(), keys: false });

function decode(spec) {
  if (!spec || Array.isArray(spec)) return new Float64Array(spec || []);
  const bin = atob(spec.bdata);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return spec.dtype === "f4" ? new Float32Array(bytes.buffer) : new Float64Array(bytes.buffer);
}

function count(steps, shown) {
  // how many held points have step <= shown (steps ascending)
  let lo = 0;
  let hi = steps.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (steps[mid] <= shown) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function fmt(v) {
  if (v === undefined || v === null || !Number.isFinite(v)) return "—";
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e4) ? v.toExponential(2) : v.toPrecision(3);
}

function newest(pl) {
  let last = 0;
  for (const r of pl.runs) if (r.step.length) last = Math.max(last, r.step[r.step.length - 1]);
  return last;
}

// The buttons' icons are inline SVG: no icon font to fetch, and no glyph that a
// projector laptop's fonts may lack (⏮ ⏸ ⏭ are missing from DejaVu and Liberation).
const ICONS = {
  first: "M5 4h2v16H5zM19 4v16L8 12z",
  back: "M18 4v16L6 12z",
  play: "M7 4v16l12-8z",
  pause: "M6 4h4v16H6zM14 4h4v16h-4z",
  forward: "M6 4v16l12-8zM18 4h2v16h-2z",
  last: "M5 4v16l11-8zM17 4h2v16h-2z",
};

function icon(name) {
  return `<svg viewBox="0 0 24 24" width="1em" height="1em" aria-hidden="true" ` +
    `style="vertical-align:-0.12em"><path fill="currentColor" d="${ICONS[name]}"/></svg>`;
}

function button(label, title, onclick) {
  const b = document.createElement("button");
  b.type = "button";
  b.innerHTML = icon(label);
  b.title = title;
  b.setAttribute("aria-label", title);
  b.className = "optlab-player-btn";
  b.addEventListener("click", (e) => {
    e.preventDefault();
    P.active = b.closest(".optlab-player").__state;
    onclick();
  });
  return b;
}

function playerBar(parent, st) {
  let bar = parent.querySelector(":scope > .optlab-player");
  if (bar) return bar;
  bar = document.createElement("div");
  bar.className = "optlab-player";
  bar.dataset.testid = "optlab-player";
  bar.setAttribute("data-testid", "optlab-player");
  bar.__state = st;
  const row = document.createElement("div");
  row.className = "optlab-player-row";
  st.playBtn = button("play", "play / pause (space)", () => toggle(st));
  row.append(
    button("first", "first step (Home)", () => seek(st, 0)),
    button("back", "one step back (←)", () => seek(st, Math.floor(st.shown) - 1)),
    st.playBtn,
    button("forward", "one step forward (→)", () => seek(st, Math.floor(st.shown) + 1)),
    button("last", "last step (End)", () => seek(st, Infinity)),
  );
  const speed = document.createElement("select");
  speed.className = "optlab-player-speed";
  speed.setAttribute("aria-label", "speed");
  speed.title = "speed: 1× draws 1,000 steps in about 10 s";
  speed.addEventListener("change", () => {
    st.speed = Number(speed.value);
    speed.blur();
  });
  st.speedSel = speed;
  const counter = document.createElement("span");
  counter.className = "optlab-player-step";
  counter.setAttribute("data-testid", "optlab-player-step");
  st.counter = counter;
  row.append(speed, counter);
  const readout = document.createElement("div");
  readout.className = "optlab-player-readout";
  readout.setAttribute("data-testid", "optlab-player-readout");
  st.readout = readout;
  bar.append(row, readout);
  parent.prepend(bar);
  return bar;
}

function setSpeeds(st, pl) {
  const sel = st.speedSel;
  if (sel.options.length) return;
  for (const s of pl.speeds) {
    const o = document.createElement("option");
    o.value = String(s);
    o.textContent = s === 1 ? "1× lecture pace" : `${s}×`;
    sel.append(o);
  }
  sel.value = "1";
}

function overlayCanvas(gd, className) {
  // a canvas laid over the chart (shared with instruments.js): placed by fitCanvas
  const cv = document.createElement("canvas");
  cv.className = className;
  cv.style.position = "absolute";
  cv.style.pointerEvents = "none";
  gd.parentElement.style.position = "relative";
  gd.parentElement.append(cv);
  return cv;
}

function plotBox(gd) {
  // The plot area's rectangle in the chart's div, from the axes themselves: a contour's
  // image trace ties y's scale to x's (scaleanchor, constrain "domain"), so the plot area
  // can be smaller than the margins' box (fl._size), and l2p counts from the axis start.
  const fl = gd._fullLayout;
  return { l: fl.xaxis._offset, t: fl.yaxis._offset, w: fl.xaxis._length, h: fl.yaxis._length };
}

function fitCanvas(gd, cv) {
  // Lay the canvas exactly over the plot area (device pixels), show it and clear it;
  // returns its 2-d context in plot-area CSS pixels: the canvas's edges clip what is
  // drawn to the axes' box (a path that leaves the plot ends at its edge, never over
  // the title or the legend).
  const box = plotBox(gd);
  const ratio = window.devicePixelRatio || 1;
  const w = Math.round(box.w * ratio);
  const h = Math.round(box.h * ratio);
  if (cv.width !== w || cv.height !== h) {
    cv.width = w;
    cv.height = h;
  }
  cv.style.left = `${gd.offsetLeft + box.l}px`;
  cv.style.top = `${gd.offsetTop + box.t}px`;
  cv.style.width = `${box.w}px`;
  cv.style.height = `${box.h}px`;
  cv.style.display = "block";
  const ctx = cv.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, box.w, box.h);
  return ctx;
}

function paint(st, shown) {
  // The paths up to the shown step on a canvas over the plot area: no Plotly redraw.
  const gd = st.gd;
  const fl = gd._fullLayout;
  st.canvas ??= overlayCanvas(gd, "optlab-player-canvas");
  const ctx = fitCanvas(gd, st.canvas);
  const xa = fl.xaxis;
  const ya = fl.yaxis;
  for (const r of st.pl.runs) {
    const k = count(r.step, shown);
    if (!k) continue;
    const full = (gd._fullData || [])[r.line] || {};
    ctx.strokeStyle = r.color;
    ctx.lineWidth = (full.line && full.line.width) || 3;
    ctx.lineJoin = "round";
    ctx.beginPath();
    for (let i = 0; i < k; i++) {
      const px = xa.l2p(r.x[i]);
      const py = ya.l2p(r.y[i]);
      if (i) ctx.lineTo(px, py);
      else ctx.moveTo(px, py);
    }
    ctx.stroke();
    const mk = ((gd._fullData || [])[r.marker] || {}).marker || {};
    ctx.beginPath();
    ctx.arc(xa.l2p(r.x[k - 1]), ya.l2p(r.y[k - 1]), (mk.size || 15) / 2, 0, 2 * Math.PI);
    ctx.fillStyle = r.color;
    ctx.fill();
    ctx.lineWidth = (mk.line && mk.line.width) || 2;
    ctx.strokeStyle = (mk.line && mk.line.color) || "#fff";
    ctx.stroke();
  }
}

function native(st, on) {
  // following the newest step: Plotly's own traces hold the paths (hover works);
  // otherwise they are emptied and the canvas draws the paths up to the shown step.
  if (st.native === on) return;
  st.native = on;
  const idx = [];
  const xs = [];
  const ys = [];
  for (const r of st.pl.runs) {
    const n = r.x.length;
    idx.push(r.line);
    xs.push(on ? r.x : []);
    ys.push(on ? r.y : []);
    if (r.marker !== null && r.marker !== undefined) {
      idx.push(r.marker);
      xs.push(on ? r.x.subarray(n - 1) : []);
      ys.push(on ? r.y.subarray(n - 1) : []);
    }
  }
  window.Plotly.restyle(st.gd, { x: xs, y: ys }, idx);
  if (on && st.canvas) st.canvas.style.display = "none";
}

/** Text for innerHTML: run labels are user input (any text, through share links too). */
function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function draw(st) {
  const gd = st.gd;
  const pl = st.pl;
  if (!pl || !gd._fullLayout || !window.Plotly) return;
  const shown = Math.floor(st.shown);
  const rows = [];
  for (const r of pl.runs) {
    const at = count(r.step, shown) - 1;
    rows.push(
      `<span class="optlab-player-run"><b style="color:${escapeHtml(r.color)}">●</b> ${escapeHtml(r.label)}: ` +
        `loss <b>${fmt(r.loss[at])}</b> · lr <b>${fmt(r.lr[at])}</b></span>`,
    );
  }
  const t0 = performance.now();
  drawPaths(st, shown);
  if (P.log) P.log.push([t0, performance.now() - t0]); // benchmarks/bench_classroom.py
  st.drawn = shown;
  const total = pl.total ? ` / ${pl.total}` : ` / ${newest(pl)}`;
  st.counter.textContent = `step ${shown}${total}`;
  st.counter.dataset.step = String(shown);
  st.readout.innerHTML = rows.join("");
  instrumentsDraw(st, shown); // arrows + step inspector (issue 12), below
  const want = st.playing ? "pause" : "play";
  if (st.playBtn.dataset.icon !== want) {
    st.playBtn.dataset.icon = want;
    st.playBtn.innerHTML = icon(want);
  }
  st.bar.dataset.playing = st.playing ? "1" : "0";
  P.steps.set(pl.group, shown);
  window.dispatchEvent(new CustomEvent("optlab:step", { detail: { group: pl.group, step: shown } }));
}

// A player with paths (the contour) draws them up to the shown step; a step player
// (model runs: `paths: false`) only moves the cursors and the readout.
function hasPaths(pl) {
  return !!pl && pl.paths !== false;
}

function drawPaths(st, shown) {
  if (!hasPaths(st.pl)) return;
  native(st, st.following);
  if (!st.following) paint(st, shown);
}

// live_chart.js calls this before Plotly.react: while not following, the player's
// traces go in empty (the canvas draws them), so an update costs no extra redraw.
function playerTraces(gd, traces, data) {
  const st = gd.__player;
  if (!st || st.following || !data.player || !st.pl || st.pl.id !== data.player.id) return traces;
  if (!hasPaths(data.player)) return traces;
  const hide = new Set();
  for (const r of data.player.runs) {
    hide.add(r.line);
    if (r.marker !== null && r.marker !== undefined) hide.add(r.marker);
  }
  return traces.map((t, i) => (hide.has(i) ? { ...t, x: [], y: [] } : t));
}

function seek(st, step) {
  st.playing = false;
  st.following = step === Infinity;
  st.shown = Math.max(0, Math.min(step, newest(st.pl)));
  draw(st);
}

function toggle(st) {
  if (st.playing) {
    st.playing = false;
  } else {
    if (Math.floor(st.shown) >= newest(st.pl) && !st.pl.live) st.shown = 0;
    st.playing = true;
    st.following = false;
    st.last = performance.now();
    tick(st);
  }
  draw(st);
}

function tick(st) {
  if (st.raf) return;
  const frame = (now) => {
    st.raf = 0;
    if (!st.playing || !st.gd.isConnected) return;
    const dt = Math.min(0.25, (now - st.last) / 1000);
    st.last = now;
    const end = newest(st.pl);
    st.shown = Math.min(end, st.shown + dt * st.pl.pace * st.speed);
    if (st.shown >= end && !st.pl.live) st.playing = false;
    if (Math.floor(st.shown) !== st.drawn || !st.playing) draw(st);
    if (st.playing) st.raf = requestAnimationFrame(frame);
  };
  st.raf = requestAnimationFrame(frame);
}

function typing(target) {
  const el = target instanceof Element ? target : null;
  return !!el && !!el.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']");
}

function installKeys() {
  if (P.keys) return;
  P.keys = true;
  document.addEventListener("keydown", (e) => {
    const st = P.active;
    if (!st || !st.gd.isConnected || e.ctrlKey || e.metaKey || e.altKey) return;
    if (typing(e.target) || typing(document.activeElement)) return;
    const actions = {
      " ": () => toggle(st),
      ArrowLeft: () => seek(st, Math.floor(st.shown) - 1),
      ArrowRight: () => seek(st, Math.floor(st.shown) + 1),
      Home: () => seek(st, 0),
      End: () => seek(st, Infinity),
      PageUp: () => seek(st, Math.floor(st.shown) - 1), // presentation clickers
      PageDown: () => seek(st, Math.floor(st.shown) + 1),
    };
    const act = actions[e.key];
    if (!act) return;
    e.preventDefault();
    act();
  });
}

// Called by live_chart.js after each Plotly.react of a chart whose data has a player.
function playerUpdate(gd, data) {
  const raw = data.player;
  const st = (gd.__player ??= { gd, shown: 0, speed: 1, playing: false, following: true, raf: 0 });
  st.bar = playerBar(gd.parentElement, st);
  const pl = {
    ...raw,
    runs: raw.runs.map((r) => ({
      ...r,
      step: decode(r.step),
      x: decode(r.x),
      y: decode(r.y),
      loss: decode(r.loss),
      lr: decode(r.lr),
      ...instrumentsDecode(r),
    })),
  };
  setSpeeds(st, pl);
  const fresh = !st.pl || st.pl.id !== pl.id;
  st.pl = pl;
  installKeys();
  P.active = st;
  if (fresh) {
    st.following = !pl.autoplay;
    st.playing = !!pl.autoplay;
    st.shown = pl.autoplay ? 0 : newest(pl);
    st.last = performance.now();
    if (st.playing) tick(st);
  } else if (st.following) {
    st.shown = newest(pl);
  } else if (st.playing) {
    tick(st); // new data: keep playing up to the newest step
  }
  st.native = st.following || fresh; // what react just drew (see playerTraces)
  if (!st.afterplot) {
    st.afterplot = true;
    gd.on("plotly_afterplot", () => {
      if (!st.following && hasPaths(st.pl)) paint(st, Math.floor(st.shown));
      if (st.pl) instrumentsDraw(st, Math.floor(st.shown));
    });
  }
  st.drawn = -1;
  draw(st);
}

const PLAYER_CSS = `
.optlab-player { font-family: inherit; font-size: 0.95rem; padding: 2px 0 4px 0; }
.optlab-player-row { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
.optlab-player-btn { min-width: 2.4em; padding: 2px 8px; font-size: 1.05rem; cursor: pointer;
  border: 1px solid var(--optlab-border, #999); border-radius: 6px;
  background: var(--optlab-button, #f4f4f4); color: inherit; }
.optlab-player-speed { font-size: 0.95rem; padding: 2px 4px; color: inherit;
  background: var(--optlab-button, #f4f4f4); border: 1px solid var(--optlab-border, #999); }
.optlab-player-step { font-weight: 700; font-variant-numeric: tabular-nums; margin-left: 8px; }
.optlab-player-readout { display: flex; gap: 0 12px; flex-wrap: wrap; line-height: 1.35;
  font-size: 0.92em; font-variant-numeric: tabular-nums; margin-top: 2px; }
`;

function playerStyle() {
  instrumentsStyle();
  if (document.getElementById("optlab-player-css")) return;
  const style = document.createElement("style");
  style.id = "optlab-player-css";
  style.textContent = PLAYER_CSS;
  document.head.append(style);
}
