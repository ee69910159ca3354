// Keeps what the user did to a chart (legend visibility, client-side zoom and pan) across Streamlit reruns.
//
// Streamlit 1.67 derives a plotly chart's element id from its figure, so any change of the figure (ticking
// "Mark spikes", "Log y axis") mounts a new plot, and plotly's own `uirevision` never sees the old one.
// This script, installed once per browser tab (inspector/ui/chart_views.py), remembers per chart (its
// `st-key-…` container) what the user changed, and applies it to the chart's next plot where the
// revisions match (chart_style.keep_view sets them):
// - trace visibility, by each trace's `meta` key (plotly.py drops `uid` from the JSON Streamlit sends),
//   under the legend's revision (layout.legend.uirevision, else layout.uirevision);
// - an axis' range, under that axis' revision (its own uirevision, else layout.uirevision), and only on
//   an axis the new figure leaves to autorange, so a range the figure sets (the step window) wins.
// After each Plotly.react (Streamlit redrawing the plot from its copy of the figure) it restores again.
// No less-than sign may appear in this file: Streamlit's HTML sanitiser drops a script that has one.
(() => {
  if (window.__inspectorKeepViews) return;
  window.__inspectorKeepViews = true;
  const views = new Map(); // chart key → {legend: {rev, visible: {meta: visible}}, axes: {name: {rev, range}}}
  const AXIS = /^([xy]axis\d*)\.(range|autorange)/;

  const chartKey = (gd) => {
    const box = gd.closest('[class*="st-key-"]');
    return box ? [...box.classList].find((c) => c.startsWith("st-key-")) : null;
  };
  const legendRev = (gd) => (gd.layout.legend || {}).uirevision ?? gd.layout.uirevision;
  const axisRev = (gd, name) => (gd.layout[name] || {}).uirevision ?? gd.layout.uirevision;
  const view = (key) => {
    if (!views.has(key)) views.set(key, { legend: null, axes: {} });
    return views.get(key);
  };

  function rememberVisibility(gd, key) {
    const visible = {};
    for (const t of gd.data) if (typeof t.meta === "string") visible[t.meta] = t.visible === undefined ? true : t.visible;
    view(key).legend = { rev: legendRev(gd), visible };
  }

  function rememberAxes(gd, key, event) {
    const axes = view(key).axes;
    for (const name of new Set(Object.keys(event || {}).map((k) => (AXIS.exec(k) || [])[1]))) {
      const ax = name && gd._fullLayout[name];
      if (!ax) continue;
      axes[name] = { rev: axisRev(gd, name), range: ax.autorange ? null : ax.range.slice() };
    }
  }

  function restore(gd, key) {
    const kept = views.get(key);
    if (!kept || gd.layout.uirevision === undefined) return;
    const Plotly = window.Plotly;
    const legend = kept.legend;
    if (legend && legend.rev === legendRev(gd)) {
      const idx = [], want = [];
      gd.data.forEach((t, i) => {
        const was = legend.visible[t.meta];
        if (was !== undefined && (t.visible === undefined ? true : t.visible) !== was) {
          idx.push(i);
          want.push(was);
        }
      });
      if (idx.length) Plotly.restyle(gd, { visible: want }, idx);
    }
    const update = {};
    for (const [name, a] of Object.entries(kept.axes)) {
      const ax = gd._fullLayout[name];
      if (a.range && ax && ax.autorange && !ax.fixedrange && a.rev === axisRev(gd, name)) {
        update[name + ".range"] = a.range;
      }
    }
    if (Object.keys(update).length) Plotly.relayout(gd, update);
  }

  function adopt(gd) {
    const key = chartKey(gd);
    if (!key || !gd._fullLayout || !gd.on || !window.Plotly) return;
    gd.__inspectorKept = true;
    restore(gd, key);
    // Streamlit redraws a new plot from its own copies of the figure (Plotly.react) while it settles, and a copy
    // taken before the restore above brings the figure's defaults back: restore after each such redraw too.
    // The user's own edits never come through react, and restore changes nothing once the plot agrees.
    gd.on("plotly_react", () => restore(gd, key));
    gd.on("plotly_restyle", () => rememberVisibility(gd, key));
    gd.on("plotly_relayout", (event) => rememberAxes(gd, key, event));
  }

  setInterval(() => {
    for (const gd of document.querySelectorAll(".js-plotly-plot")) if (!gd.__inspectorKept) adopt(gd);
  }, 200);
})();
