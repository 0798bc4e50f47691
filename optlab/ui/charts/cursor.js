// optlab step cursor (see player.py): a chart declared with a `cursor` group draws a
// dashed line at the step the player of that group shows ("optlab:step" events, the
// last step per group in window.__optlabPlayer.steps). `cursor_scale` maps steps to the
// chart's x axis (steps per epoch on a per-epoch chart).
function cursorDraw(gd, group) {
  const step = P.steps.get(group);
  let line = gd.parentElement.querySelector(":scope > .optlab-cursor");
  const fl = gd._fullLayout;
  if (step === undefined || !fl || !fl.xaxis) {
    if (line) line.style.display = "none";
    return;
  }
  if (!line) {
    line = document.createElement("div");
    line.className = "optlab-cursor";
    line.setAttribute("data-testid", "optlab-cursor");
    gd.parentElement.style.position = "relative";
    gd.parentElement.append(line);
  }
  const at = step / (gd.__optlab.cursorScale || 1); // an epoch axis: steps per epoch
  const x = fl._size.l + fl.xaxis.l2p(fl.xaxis.type === "log" ? Math.log10(at) : at);
  const inside = x >= fl._size.l && x <= fl._size.l + fl._size.w;
  line.style.cssText =
    `position:absolute;pointer-events:none;width:0;border-left:2px dashed var(--optlab-cursor,#555);` +
    `left:${gd.offsetLeft + x}px;top:${gd.offsetTop + fl._size.t}px;height:${fl._size.h}px;` +
    `display:${inside ? "block" : "none"}`;
  line.dataset.step = String(step);
}

// Called by live_chart.js after each Plotly.react of a chart with a cursor group.
function cursorUpdate(gd, group, scale) {
  const st = gd.__optlab;
  st.cursorGroup = group;
  st.cursorScale = scale || 1;
  if (!st.cursorListening) {
    st.cursorListening = true;
    window.addEventListener("optlab:step", (e) => {
      if (gd.isConnected && e.detail.group === gd.__optlab.cursorGroup) cursorDraw(gd, e.detail.group);
    });
  }
  cursorDraw(gd, group);
}
