// Canopy tree view: the body of gr.HTML's js_on_load (arguments: element, trigger, props,
// server, upload, watch). Python sends a node table, whole ({kind: 'full'}) or as a delta
// from the previous revision ({kind: 'delta', base}) (ui/figure.py: FigureStream). This
// file keeps the table, applies deltas in arrival order, turns the table into Plotly
// traces and draws them; clicks go back as 'node_click'. A delta that does not follow
// the table held here (a value skipped or lost) is not applied: the page asks for the
// whole figure with 'resync' and draws nothing wrong meanwhile.
// Drawing coalesces: while one draw runs, later values are applied and drawn once.
// Colour: PPM when the run has PPM scores (v.has_ppm), else Q, until the user picks a mode for
// this run; in PPM colouring a node without a score is grey (UNSCORED), not the scale's 0.
// Steps where PPM and Q disagree most (v.flags, PPM diagnostics) get a dotted ring.
const config = {
  doubleClick: 'autosize', // two quick clicks would otherwise reset the axes to an empty range
  displaylogo: false, responsive: true, scrollZoom: true,
  modeBarButtonsToRemove: ['select2d', 'lasso2d', 'autoScale2d'],
  // WebGL at the screen's resolution (Plotly's default 2 is 4x the pixels to fill: the
  // slowest part of a big frame without a GPU)
  plotGlPixelRatio: Math.min(2, Math.max(1, window.devicePixelRatio || 1)),
};
// the cost columns (ui/cost.py: tokens, generation / execution / verification ms) colour the
// tree by cost like the History's cost view, with no server round trip
const COST = ['tokens', 'gen_ms', 'exec_ms', 'verify_ms'];
const COLUMNS = ['id', 'parent', 'x', 'depth', 'n', 'q', 'ppm', 'kind', 'style', 'size', 'text', ...COST];
const CHANGING = ['n', 'q', 'ppm', 'style', 'size', ...COST];
const MODE_COLUMN = {q: 'q', ppm: 'ppm', visits: 'n', depth: 'depth', tokens: 'tokens', gen_ms: 'gen_ms',
                     exec_ms: 'exec_ms', verify_ms: 'verify_ms'};
const BANDS = 11; // ui/figure.py: COLOR_BANDS
const UNSCORED = '#bdbdbd'; // ui/figure.py: UNSCORED
let plot = null, selected = null, busy = false, pending = false, flashTimer = null, ringsOn = false;
let userMode = null;       // {run, mode}: the colour mode the user picked for that run
let model = null;          // the node table and what goes with it (see applyFull)
let raw = null;            // the last value applied
let resyncAsked = 0;       // when the page last asked for the whole figure
// {run, ids, nodes, label}: nodes ringed green, the edges among "nodes" drawn green (answer
// clusters, node search, teacher mode: a window 'canopy-highlight' event whose detail names
// this view's elem_id as target)
let highlight = null;
// big trees ('canopy-view' events from ui/bigtree.py and ui/static/keys.js): focus shows only
// the best path and its siblings; collapsed nodes hide what is below them (ringed dashed)
const view = {focus: false, collapsed: new Set()};
const root = () => element.querySelector('.canopy-tree');
const EMPTY = 'No tree yet: start a run (or open one in History).';
// the user's pick for a run is kept in sessionStorage too: a refresh of the tab keeps it
const MODE_KEY = 'canopy-colour:';
function savedMode(run) {
  try { return run ? sessionStorage.getItem(MODE_KEY + run) : null; } catch (e) { return null; }
}
// the modes offered for this run: the keys of m.colors (ui/figure.py: meaningful_modes; LIPS
// goals have no Q, PPM or visits); a pick that is not offered falls back to the default
const offers = (m, mode) => !!(m && m.colors && m.colors[mode]);
function pickedMode(m) {
  if (!m) return null;
  if (userMode && userMode.run === m.run) return offers(m, userMode.mode) ? userMode.mode : null;
  const saved = savedMode(m.run);
  return saved && MODE_COLUMN[saved] && offers(m, saved) ? saved : null;
}
function defaultMode(m) {
  if (!m || !m.colors) return 'q';
  if (m.hasPpm && offers(m, 'ppm')) return 'ppm';
  return offers(m, 'q') ? 'q' : (Object.keys(m.colors)[0] || 'q');
}
const modeOf = (m) => pickedMode(m) || defaultMode(m);
const scored = (v) => v !== null && v !== undefined;

function applyFull(v) {
  const m = {run: v.run, rev: v.rev, count: v.count, big: !!v.big, styles: v.styles || [],
             hover: v.hover || '', layout: v.layout, colors: v.colors || {}, best: v.best || [],
             fresh: v.fresh || [], flags: v.flags || [], hasPpm: !!v.has_ppm, path: v.path || [],
             legend: v.legend || '', empty: v.empty || '', slot: new Map()};
  for (const c of COLUMNS) m[c] = (v.nodes && v.nodes[c] || []).slice();
  m.id.forEach((id, k) => m.slot.set(id, k));
  m.cd = m.id.map((_, k) => hoverRow(m, k));
  return m;
}

// a node's customdata row [id, N, Q, PPM, kind], kept between draws (10k fresh small
// arrays per draw were a good part of the garbage a big tree's update made)
function hoverRow(m, k) {
  return [m.id[k], m.n[k], m.q[k], scored(m.ppm[k]) ? m.ppm[k] : 'not scored', m.kind[k]];
}

function applyDelta(m, d) {
  if (d.xs) {
    if (d.xs.length !== m.x.length) return false;
    m.x = d.xs.slice();
  } else {
    for (let k = 0; k < d.mv.id.length; k++) {
      const j = m.slot.get(d.mv.id[k]);
      if (j === undefined) return false;
      m.x[j] = d.mv.x[k];
    }
  }
  for (let k = 0; k < d.upd.id.length; k++) {
    const j = m.slot.get(d.upd.id[k]);
    if (j === undefined) return false;
    for (const c of CHANGING) m[c][j] = d.upd[c][k];
    m.cd[j] = hoverRow(m, j);
  }
  const add = d.add;
  for (let k = 0; k < add.id.length; k++) {
    m.slot.set(add.id[k], m.id.length);
    for (const c of COLUMNS) m[c].push(add[c][k]);
    m.cd.push(hoverRow(m, m.id.length - 1));
  }
  Object.assign(m, {rev: d.rev, count: d.count, best: d.best, fresh: d.fresh, colors: d.colors,
                    flags: d.flags || [], hasPpm: !!d.has_ppm});
  return m.id.length === d.count;
}

function resync(v) {
  // at most one request every 2 s: the next streamed value answers it
  const now = Date.now();
  if (now - resyncAsked < 2000) return;
  resyncAsked = now;
  window.canopyResyncs = (window.canopyResyncs || 0) + 1;
  trigger('resync', {run_id: v.run, rev: model ? model.rev : -1});
}

// Apply the newest value to the table; true when there is something new to draw.
function applyValue() {
  const s = props.value;
  if (s === raw) return false;
  raw = s;
  if (window.canopyDropValues > 0) { window.canopyDropValues -= 1; return false; }  // tests: a lost update
  window.canopyValueAt = Date.now();  // for bench/ui_latency.py: when the value reached the page
  const v = typeof s === 'string' ? (s ? JSON.parse(s) : null) : s;
  window.canopyValueBytes = typeof s === 'string' ? s.length : 0;
  if (!v || !v.kind) { model = null; return true; }
  if (v.kind === 'full') {
    if (!model || v.run !== model.run) selected = null;
    model = applyFull(v);
    resyncAsked = 0;
    return true;
  }
  if (!model || model.run !== v.run || model.rev !== v.base) { resync(v); return false; }
  // a delta naming unknown nodes leaves the table half-updated: drop it, keep the
  // drawing as it is and wait for the whole figure
  if (!applyDelta(model, v)) { model = null; resync(v); return false; }
  return true;
}

// --- colours -------------------------------------------------------------------------
function hex(c) { return [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)); }
function scaleColor(scale, t) {
  t = Math.max(0, Math.min(1, t));
  for (let i = 1; i < scale.length; i++) {
    if (t <= scale[i][0] || i === scale.length - 1) {
      const [p0, c0] = scale[i - 1], [p1, c1] = scale[i];
      const f = p1 > p0 ? (t - p0) / (p1 - p0) : 0;
      const a = hex(c0), b = hex(c1);
      return 'rgb(' + a.map((v, k) => Math.round(v + (b[k] - v) * f)).join(',') + ')';
    }
  }
  return scale[0][1];
}
function band(value, c) {
  const t = (value - c.cmin) / ((c.cmax - c.cmin) || 1);
  return Math.round(Math.max(0, Math.min(1, t)) * (BANDS - 1));
}
function bandScale(scale) {  // the colour bar of banded drawing: one flat step per band
  const out = [];
  for (let b = 0; b < BANDS; b++) {
    const col = scaleColor(scale, b / (BANDS - 1));
    out.push([b / BANDS, col], [(b + 1) / BANDS, col]);
  }
  return out;
}

// --- traces --------------------------------------------------------------------------
// Measured in headless chromium with software GL (bench/ui_latency.py): WebGL lines
// were the slowest part of a 10k-node frame (seconds), one SVG path is ~50x cheaper; so
// edges and the best path are SVG (under the WebGL nodes), drawn as one walk through
// the tree (down each edge and back) instead of 10k separate segments. Rings (newest
// nodes, the selected one) are layout shapes above everything: moving or fading them
// redraws no trace.
// rows the view hides (null: none): below a collapsed node, or off the best path's
// neighbourhood in focus mode; memoised walk up (rows need not be in parent-first order)
function hiddenRows(m) {
  if (!view.focus && !view.collapsed.size) return null;
  const n = m.id.length, state = new Int8Array(n);  // 0 unknown, 1 shown, 2 hidden
  const best = new Set(m.best);
  const walk = (k0) => {
    const chain = [];
    let k = k0, verdict = 1;
    while (state[k] === 0) {
      chain.push(k);
      const pid = m.parent[k], j = pid === null ? undefined : m.slot.get(pid);
      if (j === undefined) break;
      if (view.collapsed.has(pid) || (view.focus && !best.has(pid))) { verdict = 2; break; }
      k = j;
    }
    if (state[k] === 2) verdict = 2;
    for (const c of chain) state[c] = verdict;
  };
  for (let k = 0; k < n; k++) if (!state[k]) walk(k);
  return state.map((v) => (v === 2 ? 1 : 0));
}

function edgeWalk(m, hide) {
  const n = m.id.length, kids = new Array(n);
  const ex = [], ey = [];
  const roots = [];
  for (let k = 0; k < n; k++) {
    if (hide && hide[k]) continue;
    const j = m.parent[k] === null ? undefined : m.slot.get(m.parent[k]);
    if (j === undefined) { roots.push(k); continue; }
    (kids[j] = kids[j] || []).push(k);
  }
  for (const r of roots) {
    if (!kids[r]) continue;
    if (ex.length) { ex.push(null); ey.push(null); }
    ex.push(m.x[r]); ey.push(-m.depth[r]);
    const stack = [[r, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1];
      const ks = kids[top[0]];
      if (ks && top[1] < ks.length) {
        const c = ks[top[1]++];
        ex.push(m.x[c]); ey.push(-m.depth[c]);
        stack.push([c, 0]);
      } else {
        stack.pop();
        if (stack.length) { const p = stack[stack.length - 1][0]; ex.push(m.x[p]); ey.push(-m.depth[p]); }
      }
    }
  }
  return [ex, ey];
}

function ring(m, j, size, color, width, opacity, dash) {
  return {type: 'circle', xref: 'x', yref: 'y', xsizemode: 'pixel', ysizemode: 'pixel', layer: 'above',
          xanchor: m.x[j], yanchor: -m.depth[j], x0: -size, x1: size, y0: -size, y1: size,
          opacity, line: {color, width, dash: dash || 'solid'}, name: dash ? 'flag' : 'ring'};
}

const MAX_RINGS = 300;
function shapes(m, showFresh) {
  const out = [];
  if (showFresh) {
    for (const id of m.fresh.slice(0, MAX_RINGS)) {
      const j = m.slot.get(id);
      if (j !== undefined) out.push(ring(m, j, 13, '#ff7f0e', 3, 1));
    }
  }
  for (const id of m.flags) {  // PPM and Q disagree here (the PPM diagnostics list)
    const k = m.slot.get(id);
    if (k !== undefined) out.push(ring(m, k, 21, '#111111', 2, 0.9, 'dot'));
  }
  for (const id of view.collapsed) {
    const k = m.slot.get(id);
    if (k !== undefined) out.push(Object.assign(ring(m, k, 19, '#555555', 2, 0.9, 'dash'), {name: 'collapsed'}));
  }
  const j = selected === null ? undefined : m.slot.get(selected);
  if (j !== undefined) out.push(ring(m, j, 17, '#7b2cbf', 4, 1));
  return out;
}

function pathLine(m, ids) {  // the x and y of a path's nodes, in order
  const xs = [], ys = [];
  for (const id of ids) {
    const j = m.slot.get(id);
    if (j !== undefined) { xs.push(m.x[j]); ys.push(-m.depth[j]); }
  }
  return [xs, ys];
}

function highlightEdges(m) {  // each highlighted node's edge to its parent, when both are highlighted
  const xs = [], ys = [];
  if (!highlight || highlight.run !== m.run) return [xs, ys];
  const on = new Set(highlight.nodes || []);
  for (const id of on) {
    const j = m.slot.get(id), p = j === undefined ? undefined : m.slot.get(m.parent[j]);
    if (p === undefined || !on.has(m.id[p])) continue;
    xs.push(m.x[p], m.x[j], null); ys.push(-m.depth[p], -m.depth[j], null);
  }
  return [xs, ys];
}

function buildData(m) {
  const mode = modeOf(m);
  const c = m.colors[mode] || m.colors.q;
  const vals = m[MODE_COLUMN[mode] || 'q'];
  const n = m.id.length;
  const hide = hiddenRows(m);
  m.hide = hide;  // the minimap draws what the tree draws
  m.hiddenCount = hide ? hide.reduce((a, b) => a + b, 0) : 0;
  const [ex, ey] = edgeWalk(m, hide);
  const [bx, by] = pathLine(m, m.best);
  const [sx, sy] = pathLine(m, m.path || []);  // a replay at a selection: the path it took
  const data = [
    {type: 'scatter', name: 'edges', mode: 'lines', x: ex, y: ey, hoverinfo: 'skip',
     line: {color: '#b0b0b0', width: 1}},
    {type: 'scatter', name: 'best path', mode: 'lines', x: bx, y: by, hoverinfo: 'skip',
     line: {color: '#f2b705', width: 5}},
    {type: 'scatter', name: 'selected path', mode: 'lines', x: sx, y: sy, hoverinfo: 'skip',
     line: {color: '#7b2cbf', width: 3, dash: 'dash'}},
  ];
  const [hx, hy] = highlightEdges(m);
  if (hx.length) {
    data.push({type: 'scatter', name: 'highlighted paths', mode: 'lines', x: hx, y: hy, hoverinfo: 'skip',
               line: {color: '#2a9d8f', width: 4}});
  }
  // one trace per style (symbol, outline), and in WebGL per colour band too; nodes with
  // no value (no PPM score) are a group of their own, drawn grey (band BANDS)
  const groups = new Map();
  for (let k = 0; k < n; k++) {
    if (hide && hide[k]) continue;
    const b = !scored(vals[k]) ? BANDS : (m.big ? band(vals[k], c) : 0);
    const key = m.style[k] * 64 + b;
    let g = groups.get(key);
    if (!g) { g = {style: m.style[k], band: b, idx: []}; groups.set(key, g); }
    g.idx.push(k);
  }
  const keys = Array.from(groups.keys()).sort((a, b) => a - b);
  for (const key of keys) {
    const g = groups.get(key), idx = g.idx;
    const [symbol, outline, label, opacity, width] = m.styles[g.style];
    const marker = {size: idx.map((k) => m.size[k]), symbol, line: {color: outline, width}};
    if (g.band === BANDS) marker.color = UNSCORED;
    else if (m.big) marker.color = scaleColor(c.scale, g.band / (BANDS - 1));
    else Object.assign(marker, {color: idx.map((k) => vals[k]), colorscale: c.scale, cmin: c.cmin, cmax: c.cmax});
    data.push({
      type: m.big ? 'scattergl' : 'scatter', name: 'nodes: ' + label, meta: label, mode: 'markers', opacity,
      x: idx.map((k) => m.x[k]), y: idx.map((k) => -m.depth[k]),
      customdata: idx.map((k) => m.cd[k]),
      text: idx.map((k) => m.text[k]), hovertemplate: m.hover, marker,
    });
  }
  // highlighted nodes (answer clusters, search): one trace of open circles, not layout shapes
  // (300 shapes cost a 10k-node frame ~4x more: bench/ui_latency.py --interactions)
  if (highlight && highlight.run === m.run && (highlight.ids || []).length) {
    const hx = [], hy = [];
    for (const id of highlight.ids) {
      const k = m.slot.get(id);
      if (k !== undefined && !(hide && hide[k])) { hx.push(m.x[k]); hy.push(-m.depth[k]); }
    }
    data.push({type: 'scatter', name: 'highlighted', mode: 'markers', x: hx, y: hy,
               hoverinfo: 'skip', marker: {symbol: 'circle-open', size: 24, color: '#2a9d8f', line: {width: 3}}});
  }
  return data;
}

// The colour legend is HTML in the toolbar: a Plotly colour bar is redrawn (and pushes
// the margins) on every update.
function fmt(v) { return Number.isInteger(v) ? String(v) : v.toFixed(2).replace(/0+$/, ''); }
function legend(m) {
  const r = root();
  const mode = modeOf(m);
  const c = m.colors[mode] || m.colors.q;
  const stops = m.big ? bandScale(c.scale) : c.scale;
  const css = stops.map(([p, col]) => `${col} ${(100 * p).toFixed(2)}%`).join(', ');
  const vals = m[MODE_COLUMN[mode] || 'q'];
  let missing = 0;
  for (const v of vals) if (!scored(v)) missing += 1;
  const none = missing === vals.length;  // nothing to scale: say so instead of a bar
  r.querySelector('.canopy-scale-title').textContent = c.title;
  r.querySelector('.canopy-scale-min').textContent = none ? '' : fmt(c.cmin);
  r.querySelector('.canopy-scale-max').textContent = none ? '' : fmt(c.cmax);
  const bar = r.querySelector('.canopy-scale-bar');
  bar.style.display = none ? 'none' : '';
  bar.style.background = `linear-gradient(to right, ${css})`;
  const note = r.querySelector('.canopy-unscored');
  note.style.display = missing ? '' : 'none';
  // not "run with PPM default": where no PPM has been built, default means none (the PPM control says)
  note.textContent = none ? 'no node has a PPM score: this run had no PPM (the PPM control says what "default" gives on this server)'
    : `grey = not scored (${missing} of ${vals.length}: the root, steps that ended without an answer)`;
}

function layoutOf(m, showFresh) {
  return Object.assign({}, m.layout, {shapes: shapes(m, showFresh)});
}

// every node click of the page is numbered, so the server can skip a late answer to an older one
// (ui/click_order.py: Gradio's trigger modes drop clicks or replay an older click's data)
function nextClick() {
  window.canopyClickSeq = (window.canopyClickSeq || 0) + 1;
  return window.canopyClickSeq;
}

function onClick(ev) {
  const p = (ev.points || []).find((q) => q.data && String(q.data.name).startsWith('nodes'));
  if (!p) return;
  const row = p.customdata || p.data.customdata[p.pointIndex];
  selected = row[0];
  const m = model || {};
  trigger('node_click', {node_id: selected, run_id: m.run, rev: m.rev, seq: nextClick()});
  // move the selection ring only: a layout shape, redrawn without touching the traces
  if (plot && model) requestAnimationFrame(() => Plotly.relayout(plot, {shapes: shapes(model, ringsOn)}));
}

// Plotly counts a second press within its doubleClickDelay (500 ms) as a double-click: it
// autosizes the axes and drops the click, so clicking one node and then another quickly lost
// the second click (and the zoom). A press on another node than the last press starts a new
// click train (Plotly keeps the train's start in gd._mouseDownTime); a real double-click on one
// node or on empty space still resets the view.
function separateClickTrains(el) {
  if (el.canopyTrains) return;
  el.canopyTrains = true;
  let last = null;
  el.addEventListener('mousedown', () => {
    const p = (el._hoverdata || []).find((q) => q.data && String(q.data.name).startsWith('nodes'));
    const id = p ? (p.customdata || p.data.customdata[p.pointIndex])[0] : null;
    if (id !== last) el._mouseDownTime = 0;
    last = id;
  }, true);
}

function flash(el, m) {
  // "newest nodes flash": their rings go away after a moment (shapes only, no trace redraw)
  if (flashTimer) clearTimeout(flashTimer);
  ringsOn = m.fresh.length > 0;
  if (!ringsOn) return;
  flashTimer = setTimeout(() => {
    flashTimer = null;
    ringsOn = false;
    if (plot === el && model === m && !busy) Plotly.relayout(el, {shapes: shapes(m, false)});
  }, 900);
}

const painted = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));

async function drawOnce() {
  const r = root();
  const m = model;
  const el = r.querySelector('.canopy-plot');
  const sel = r.querySelector('.canopy-mode');
  const mode = modeOf(m);
  if (sel) {  // only the modes that mean something for this run's algorithm
    for (const o of sel.options) o.hidden = o.disabled = !!(m && m.colors) && !offers(m, o.value);
    if (sel.value !== mode) sel.value = mode;
  }
  const empty = !m || !m.count;
  const box = r.querySelector('.canopy-empty');
  box.style.display = empty ? 'block' : 'none';
  // the run's own words (ui/vocabulary.py), and why the tree is empty (a run that did not start)
  if (m && m.legend) r.querySelector('.canopy-legend').textContent = m.legend;
  if (empty) {
    box.textContent = (m && m.empty) || EMPTY;
    box.classList.toggle('canopy-error', !!(m && m.empty));
  }
  // no tree, no scale: the previous run's (LIPS: depth) stayed beside the select's default
  r.querySelector('.canopy-scale').style.visibility = empty ? 'hidden' : '';
  if (empty) {
    minimap(null);
    if (plot) { Plotly.purge(plot); plot = null; }
    Object.assign(r.dataset, {nodes: 0, rev: m ? m.rev : -1, run: m ? m.run : ''});
    return;
  }
  const t0 = performance.now();
  legend(m);
  const data = buildData(m);
  const t1 = performance.now();
  if (plot !== el) {
    plot = el;
    await Plotly.newPlot(el, data, layoutOf(m, true), config);
    el.on('plotly_click', onClick);
    separateClickTrains(el);
    el.on('plotly_relayout', () => minimapFrame());  // zoom, pan, double-click: move the rectangle
  } else {
    await Plotly.react(el, data, layoutOf(m, true), config);
  }
  const t2 = performance.now(), ms = t2 - t0;
  Object.assign(r.dataset, {rev: m.rev, nodes: m.count, run: m.run, renderMs: ms.toFixed(1), color: mode,
                            flags: m.flags.join(','),
                            highlight: highlight && highlight.run === m.run ? (highlight.ids || []).join(',') : '',
                            hidden: m.hiddenCount || 0, focus: view.focus ? '1' : '',
                            collapsed: Array.from(view.collapsed).join(',')});
  window.canopyDrawSplit = {traces: t1 - t0, plotly: t2 - t1};  // bench/ui_latency.py --verbose
  window.canopyDrawnAt = Date.now();
  window.canopyDraws = (window.canopyDraws || 0) + 1;
  (window.canopyRenderMs = window.canopyRenderMs || []).push(ms);
  flash(el, m);
  await painted();
  window.canopyPaintedAt = Date.now();  // the frame with this drawing is on screen
  minimap(m);  // after the tree's frame: the overview never delays it
}

async function draw() {
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

function onValue() {
  let changed = false;
  try { changed = applyValue(); } catch (e) { console.error('canopy tree value:', e); model = null; changed = true; }
  if (changed) draw();
}

element.addEventListener('change', (e) => {
  if (e.target && e.target.classList.contains('canopy-mode')) {
    userMode = {run: model ? model.run : null, mode: e.target.value};
    try { if (userMode.run) sessionStorage.setItem(MODE_KEY + userMode.run, userMode.mode); } catch (err) { /* storage off */ }
    draw();
  }
});
// keyboard navigation (ui/static/keys.js sends 'canopy-nav' with a target and a direction):
// move the selection to the parent, the first child or the previous/next sibling (by x) and
// inspect it, as a click would
function neighbour(m, dir) {
  const j = selected === null ? undefined : m.slot.get(selected);
  if (j === undefined) return m.id[0];
  if (dir === 'parent') return m.parent[j];
  const below = (p) => m.id.map((_, k) => k).filter((k) => m.parent[k] === p).sort((a, b) => m.x[a] - m.x[b]);
  if (dir === 'child') { const ks = below(m.id[j]); return ks.length ? m.id[ks[0]] : null; }
  if (m.parent[j] === null) return null;
  const sibs = below(m.parent[j]), at = sibs.indexOf(j) + (dir === 'next' ? 1 : -1);
  return at >= 0 && at < sibs.length ? m.id[sibs[at]] : null;
}
window.addEventListener('canopy-nav', (e) => {
  const d = e.detail || {};
  if (!d.target || !element.closest('#' + d.target) || !model || !model.count) return;
  const id = neighbour(model, d.dir);
  if (id === null || id === undefined) return;
  selected = id;
  root().dataset.selected = String(id);
  trigger('node_click', {node_id: id, run_id: model.run, rev: model.rev, seq: nextClick()});
  if (plot) requestAnimationFrame(() => Plotly.relayout(plot, {shapes: shapes(model, ringsOn)}));
});
window.addEventListener('canopy-view', (e) => {
  const d = e.detail || {};
  if (!d.target || !element.closest('#' + d.target)) return;
  if ('focus' in d) view.focus = !!d.focus;
  if (d.collapse === 'selected' && selected !== null) {
    if (view.collapsed.has(selected)) view.collapsed.delete(selected); else view.collapsed.add(selected);
  }
  if (d.collapse === 'none') view.collapsed.clear();
  window.canopyViewAt = performance.now();
  if ('zoom' in d) { zoomTo(d.zoom); return; }
  draw();
});
// zoom-to-node: the axes centred on a node, about 20 siblings wide and 8 levels high
function zoomTo(id) {
  const m = model, k = m ? m.slot.get(id) : undefined;
  if (k === undefined || !plot) return;
  const x = m.x[k], y = -m.depth[k];
  Plotly.relayout(plot, {'xaxis.range': [x - 10, x + 10], 'yaxis.range': [y - 4, y + 4]});
}
window.addEventListener('canopy-highlight', (e) => {
  const d = e.detail || {};
  if (!d.target || !element.closest('#' + d.target)) return;
  highlight = d.ids && d.ids.length ? d : null;
  draw();
});
// ui/static/minimap.js follows (ui/views.py: tree_view joins the two and starts the view)

