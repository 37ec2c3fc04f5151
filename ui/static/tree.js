// Canopy tree view: the body of gr.HTML's js_on_load (arguments: element, trigger, props,
// server, upload, watch). Python sends {data, layout, colors, ...} (ui/figure.py); this
// file only picks the colour mode, draws with Plotly and sends clicks back as 'node_click'.
// Updates coalesce: while one draw runs, later values wait and only the newest is drawn.
const config = {
  doubleClick: 'autosize', // two quick clicks would otherwise reset the axes to an empty range
  displaylogo: false, responsive: true, scrollZoom: true,
  modeBarButtonsToRemove: ['select2d', 'lasso2d', 'autoScale2d'],
};
let plot = null, selected = null, busy = false, pending = false, flashTimer = null;
let mode = 'q';
let raw = null, parsed = null;
const root = () => element.querySelector('.canopy-tree');
function current() {  // the value is a JSON string (see ui/views.py: encode)
  const v = props.value;
  if (typeof v !== 'string') return v;
  if (v !== raw) { raw = v; parsed = v ? JSON.parse(v) : null; }
  return parsed;
}

function selectedXY(data, traces) {
  if (selected === null) return [[], []];
  for (const i of traces) {
    const t = data[i];
    const k = t.customdata.findIndex((r) => r[0] === selected);
    if (k >= 0) return [[t.x[k]], [t.y[k]]];
  }
  return [[], []];
}

// customdata rows are [id, N, Q, PPM, kind] (ui/figure.py: color_values does the same)
function colorValues(t) {
  if (mode === 'depth') return t.y.map((y) => -y);
  const col = {q: 2, ppm: 3, visits: 1}[mode] || 2;
  return t.customdata.map((r) => (r[col] === null ? 0 : r[col]));
}

function withMode(v) {
  const data = v.data.slice();
  const c = v.colors[mode] || v.colors.q;
  v.node_traces.forEach((i) => {
    const t = Object.assign({}, data[i]);
    t.marker = Object.assign({}, t.marker, {
      color: colorValues(t), colorscale: c.scale, cmin: c.cmin, cmax: c.cmax,
      colorbar: Object.assign({}, t.marker.colorbar, {title: {text: c.title}}),
    });
    data[i] = t;
  });
  const [sx, sy] = selectedXY(data, v.node_traces);
  data.push({type: data[0].type, name: 'selected', mode: 'markers', x: sx, y: sy, hoverinfo: 'skip',
             marker: {size: 34, symbol: 'circle-open', color: '#7b2cbf', line: {width: 4}}});
  return data;
}

function onClick(ev) {
  const p = (ev.points || []).find((q) => q.data && String(q.data.name).startsWith('nodes'));
  if (!p) return;
  const row = p.customdata || p.data.customdata[p.pointIndex];
  selected = row[0];
  const v = current() || {};
  trigger('node_click', {node_id: selected, run_id: v.run, rev: v.rev});
  // move the selection ring only (a full redraw would delay the inspector's update)
  if (plot && plot.data && v.node_traces) {
    const [sx, sy] = selectedXY(plot.data, v.node_traces);
    requestAnimationFrame(() => Plotly.restyle(plot, {x: [sx], y: [sy]}, [plot.data.length - 1]));
  }
}

function flash(el, v) {
  // "newest nodes flash": their rings fade out after a moment. In WebGL a restyle redraws
  // every trace (as costly as a whole update at 10k nodes), so big trees keep the rings
  // until the next update replaces them.
  if (flashTimer) clearTimeout(flashTimer);
  if (!v.fresh || !v.fresh.length || v.data[0].type === 'scattergl') return;
  flashTimer = setTimeout(() => {
    flashTimer = null;
    if (plot === el) Plotly.restyle(el, {'marker.opacity': 0}, [v.fresh_trace]);
  }, 900);
}

async function drawOnce() {
  const r = root();
  const v = current();
  const el = r.querySelector('.canopy-plot');
  const sel = r.querySelector('.canopy-mode');
  if (sel && sel.value !== mode) sel.value = mode;
  const empty = !v || !v.data || !v.count;
  r.querySelector('.canopy-empty').style.display = empty ? 'block' : 'none';
  if (empty) {
    if (plot) { Plotly.purge(plot); plot = null; }
    r.dataset.nodes = 0;
    return;
  }
  if (v.run !== r.dataset.run) selected = null;
  const t0 = performance.now();
  if (plot !== el) {
    plot = el;
    await Plotly.newPlot(el, withMode(v), v.layout, config);
    el.on('plotly_click', onClick);
  } else {
    await Plotly.react(el, withMode(v), v.layout, config);
  }
  const ms = performance.now() - t0;
  Object.assign(r.dataset, {rev: v.rev, nodes: v.count, run: v.run, renderMs: ms.toFixed(1)});
  window.canopyDrawnAt = Date.now();
  window.canopyDraws = (window.canopyDraws || 0) + 1;
  (window.canopyRenderMs = window.canopyRenderMs || []).push(ms);
  flash(el, v);
}

async function draw() {
  window.canopyValueAt = Date.now();  // for bench/ui.py: when the newest value reached the page
  if (!window.Plotly) { setTimeout(draw, 50); return; }
  if (busy) { pending = true; return; }
  busy = true;
  try {
    do { pending = false; await drawOnce(); } while (pending);
  } catch (e) {
    console.error('canopy tree:', e);
  } finally {
    busy = false;
  }
}

element.addEventListener('change', (e) => {
  if (e.target && e.target.classList.contains('canopy-mode')) { mode = e.target.value; draw(); }
});
watch('value', draw);
draw();
