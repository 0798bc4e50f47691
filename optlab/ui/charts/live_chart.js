// optlab live chart: one persistent Plotly div per element, updated with Plotly.react.
// Streamlit calls the default export again with new `data` on every update; the div
// is created once, so the DOM node, the user's zoom (layout.uirevision) and hover
// state survive. plotly.js is loaded once per page from a static URL, and "static"
// traces (a contour) plus the layout template are cached here by content hash, and
// the hash held is reported back as the "static_hash" state.
const G = (window.__optlabLiveChart ??= { plotly: null, cache: new Map() });
const CACHE_LIMIT = 16;

function loadPlotly(url) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!G.plotly) {
    G.plotly = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = url;
      script.async = true;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => {
        G.plotly = null;
        reject(new Error(`optlab live chart: cannot load plotly.js from ${url}`));
      };
      document.head.appendChild(script);
    });
  }
  return G.plotly;
}

function remember(spec) {
  // At once, not at render: a newer update may supersede this one's render.
  if (!spec || !spec.content) return;
  G.cache.delete(spec.hash);
  G.cache.set(spec.hash, spec.content);
  while (G.cache.size > CACHE_LIMIT) G.cache.delete(G.cache.keys().next().value);
}

function staticParts(spec) {
  const content = spec && G.cache.get(spec.hash);
  return content || { traces: [], template: null };
}

function compose(data, parts) {
  // Static traces go back to their original positions among the dynamic ones.
  const total = data.traces.length + parts.traces.length;
  const positions = new Map(data.static_index.map((pos, i) => [pos, i]));
  const out = [];
  let dyn = 0;
  for (let pos = 0; pos < total; pos++) {
    const s = positions.get(pos);
    if (s !== undefined && s < parts.traces.length) out.push(parts.traces[s]);
    else if (dyn < data.traces.length) out.push(data.traces[dyn++]);
  }
  const layout = { ...data.layout };
  if (parts.template) layout.template = parts.template;
  return [out, layout];
}

function onClick(gd, event) {
  const st = gd.__optlab;
  const fl = gd._fullLayout;
  const area = gd.querySelector(".nsewdrag");
  if (!st || !st.click || !fl || !area) return;
  const box = area.getBoundingClientRect();
  const px = event.clientX - box.left;
  const py = event.clientY - box.top;
  if (px < 0 || py < 0 || px > box.width || py > box.height) return;
  st.setTriggerValue("click", { x: fl.xaxis.p2d(px), y: fl.yaxis.p2d(py) });
}

function render(gd, data, seq) {
  const st = gd.__optlab;
  const parts = staticParts(data.static);
  const [composed, layout] = compose(data, parts);
  const traces = data.player ? playerTraces(gd, composed, data) : composed;
  const done = window.Plotly.react(gd, traces, layout, data.config);
  if (data.player || data.cursor)
    Promise.resolve(done).then(() => {
      if (seq !== st.seq) return;
      if (data.player) playerUpdate(gd, data);
      if (data.cursor) cursorUpdate(gd, data.cursor, data.cursor_scale);
    });
  if (!st.listening) {
    st.listening = true;
    gd.addEventListener("click", (event) => onClick(gd, event));
  }
}

export default function (component) {
  const { data, parentElement, setStateValue, setTriggerValue } = component;
  let gd = parentElement.querySelector(":scope > .optlab-live-chart");
  if (!gd) {
    gd = document.createElement("div");
    gd.className = "optlab-live-chart";
    gd.__optlab = { seq: 0, listening: false };
    parentElement.appendChild(gd);
  }
  gd.style.height = `${data.height}px`;
  const st = gd.__optlab;
  st.setTriggerValue = setTriggerValue;
  st.click = data.click;
  remember(data.static);
  // Tell Python which static hash this page holds; it resends until they agree.
  const held = data.static && G.cache.has(data.static.hash) ? data.static.hash : null;
  if (st.held !== held) {
    st.held = held;
    setStateValue("static_hash", held);
  }
  const seq = ++st.seq;
  if (data.player) playerStyle();
  if (window.Plotly) render(gd, data, seq);
  else
    loadPlotly(data.plotly_url)
      .then(() => seq === st.seq && render(gd, data, seq))
      .catch((err) => {
        gd.textContent = String(err.message || err);
      });
  // Streamlit may call a superseded call's cleanup while the element lives on, so
  // only free the plot once the node has really left the page.
  return () =>
    setTimeout(() => {
      if (!gd.isConnected && window.Plotly) window.Plotly.purge(gd);
    }, 0);
}
