// Canopy tree view, part 2 (ui/views.py: tree_view appends it to tree.js, in the same
// js_on_load body, so it shares tree.js's state: root(), plot, model, selected, view).
// --- minimap ---------------------------------------------------------------------------
// Trees of MINIMAP_FROM nodes or more get a small overview in the plot's lower right corner:
// every drawn node as a dot (the best path gold, the selected node purple) and the part of
// the tree the axes show as a rectangle; a click there centres the axes on that point. A
// 2D canvas, not Plotly: its dots are written into the pixels once per tree revision (10,000
// nodes: 0.5-12 ms, median 4, headless chromium at load 15; fillRect per node cost 15-43 ms)
// onto an offscreen canvas, and a zoom or pan only copies it and draws the rectangle.
const MINIMAP_FROM = 300, MINI_W = 180, MINI_H = 110, MINI_PAD = 5;
const mini = {canvas: null, off: null, dots: null, key: '', box: null};
function miniCanvas() {
  if (mini.canvas) return mini.canvas;
  const r = root(), c = document.createElement('canvas');
  r.style.position = 'relative';
  c.className = 'canopy-minimap';
  c.width = MINI_W; c.height = MINI_H;
  c.title = 'the whole tree: click to look there';
  Object.assign(c.style, {position: 'absolute', right: '8px', bottom: '8px', width: MINI_W + 'px',
    height: MINI_H + 'px', background: 'rgba(255,255,255,0.92)', border: '1px solid #999',
    borderRadius: '3px', cursor: 'crosshair', zIndex: 5, display: 'none'});
  c.addEventListener('click', miniClick);
  r.appendChild(c);
  mini.canvas = c;
  return c;
}
function minimap(m) {
  const show = !!(m && m.count >= MINIMAP_FROM && plot);
  const c = show || mini.canvas ? miniCanvas() : null;
  if (!c) return;
  c.style.display = show ? '' : 'none';
  root().dataset.minimap = show ? '1' : '';
  if (!show) return;
  const t0 = performance.now();
  const key = [m.run, m.rev, m.hiddenCount, view.focus, view.collapsed.size].join(':');
  if (key !== mini.key) { mini.key = key; mini.dots = miniDots(m); }
  minimapFrame();
  window.canopyMinimapMs = performance.now() - t0;  // bench/ui_latency.py --interactions
}
function miniDots(m) {  // the tree's nodes as dots on an offscreen canvas; sets the scale (mini.box)
  const n = m.id.length, hide = m.hide;
  let x0 = Infinity, x1 = -Infinity, d1 = 0;
  for (let k = 0; k < n; k++) {
    if (hide && hide[k]) continue;
    if (m.x[k] < x0) x0 = m.x[k];
    if (m.x[k] > x1) x1 = m.x[k];
    if (m.depth[k] > d1) d1 = m.depth[k];
  }
  const box = mini.box = {x0, x1: x1 > x0 ? x1 : x0 + 1, d1: d1 || 1};
  if (!mini.off) mini.off = Object.assign(document.createElement('canvas'), {width: MINI_W, height: MINI_H});
  const off = mini.off;
  const g = off.getContext('2d');
  // every node a 2x2 grey dot written straight into the pixels: 10,000 fillRect calls cost
  // 15-40 ms on a loaded machine, this a fraction of a millisecond
  const img = g.createImageData(MINI_W, MINI_H), px = new Uint32Array(img.data.buffer);
  const GREY = 0xff7a7a7a;  // ABGR in a little-endian word: opaque #7a7a7a
  for (let k = 0; k < n; k++) {
    if (hide && hide[k]) continue;
    const x = Math.round(miniX(box, m.x[k])) - 1, y = Math.round(miniY(box, m.depth[k])) - 1;
    const at = y * MINI_W + x;
    px[at] = px[at + 1] = px[at + MINI_W] = px[at + MINI_W + 1] = GREY;
  }
  g.putImageData(img, 0, 0);
  const mark = (ids, colour, size) => {
    g.fillStyle = colour;
    for (const id of ids) {
      const k = m.slot.get(id);
      if (k !== undefined && !(hide && hide[k])) {
        g.fillRect(miniX(box, m.x[k]) - size / 2, miniY(box, m.depth[k]) - size / 2, size, size);
      }
    }
  };
  mark(m.best, '#f2b705', 3);
  return off;
}
const miniX = (b, x) => MINI_PAD + ((x - b.x0) / (b.x1 - b.x0)) * (MINI_W - 2 * MINI_PAD);
const miniY = (b, depth) => MINI_PAD + (depth / b.d1) * (MINI_H - 2 * MINI_PAD);
function minimapFrame() {  // the dots, then the rectangle of what the axes show
  const c = mini.canvas, b = mini.box;
  if (!c || c.style.display === 'none' || !mini.dots || !plot || !plot._fullLayout) return;
  const g = c.getContext('2d');
  g.clearRect(0, 0, MINI_W, MINI_H);
  g.drawImage(mini.dots, 0, 0);
  const xr = plot._fullLayout.xaxis.range, yr = plot._fullLayout.yaxis.range;
  const left = miniX(b, xr[0]), right = miniX(b, xr[1]);
  const top = miniY(b, -yr[1]), bottom = miniY(b, -yr[0]);
  const k = selected === null || !model ? undefined : model.slot.get(selected);
  if (k !== undefined) {  // the selected node, purple as its ring
    g.fillStyle = '#7b2cbf';
    g.fillRect(miniX(b, model.x[k]) - 2.5, miniY(b, model.depth[k]) - 2.5, 5, 5);
  }
  g.strokeStyle = '#7b2cbf'; g.lineWidth = 1.5;
  g.strokeRect(left, top, right - left, bottom - top);
  root().dataset.minimapView = [xr[0], xr[1], yr[0], yr[1]].map((v) => v.toFixed(2)).join(',');
}
function miniClick(e) {  // centre the axes on the clicked point (zoomed in when all is shown)
  const b = mini.box;
  if (!b || !plot || !plot._fullLayout) return;
  const rect = mini.canvas.getBoundingClientRect();
  const x = b.x0 + ((e.clientX - rect.left - MINI_PAD) / (MINI_W - 2 * MINI_PAD)) * (b.x1 - b.x0);
  const y = -((e.clientY - rect.top - MINI_PAD) / (MINI_H - 2 * MINI_PAD)) * b.d1;
  const xr = plot._fullLayout.xaxis.range, yr = plot._fullLayout.yaxis.range;
  let w = Math.abs(xr[1] - xr[0]), h = Math.abs(yr[1] - yr[0]);
  if (w >= 0.9 * (b.x1 - b.x0)) { w = 20; h = 8; }  // the whole tree in view: zoom in as zoomTo does
  window.canopyViewAt = performance.now();
  Plotly.relayout(plot, {'xaxis.range': [x - w / 2, x + w / 2], 'yaxis.range': [y - h / 2, y + h / 2]});
}
