// Answer clusters (ui/clusters.py): the body of gr.HTML's js_on_load. value = JSON string
// {run, rev, target, clusters: [{answer, label, leaves, nodes, visits, q, ppm}]}. A bar per
// cluster, weighted by the select's choice (visits, mean Q, mean PPM), drawn with Plotly;
// clicking a bar (or its button in the list) highlights exactly that cluster's leaves and
// their paths in the tree view named by `target` (tree.js listens for 'canopy-highlight').
// Answer text goes into the page only as textContent, or to Plotly as `label` (escaped by
// the server: Plotly reads a few HTML tags in its labels).
const WEIGHT_TITLE = {visits: 'visits N (sum)', q: 'mean Q', ppm: 'mean PPM'};
let raw = null, v = null, chosen = null, plot = null;
const box = () => element.querySelector('.canopy-clusters');

function current() {
  const s = props.value;
  if (s === raw) return v;
  raw = s;
  const next = typeof s === 'string' ? (s ? JSON.parse(s) : null) : s;
  if (!next || !v || next.run !== v.run) chosen = null;
  v = next;
  return v;
}

function weightOf(c, by) { return by === 'visits' ? c.visits : c[by]; }

function highlight(index) {
  const c = v && index !== null ? v.clusters[index] : null;
  chosen = c ? c.answer : null;
  const detail = c ? {target: v.target, run: v.run, ids: c.leaves, nodes: c.nodes, label: c.answer}
    : {target: v ? v.target : '', run: v ? v.run : '', ids: []};
  window.dispatchEvent(new CustomEvent('canopy-highlight', {detail}));
  mark();
}

function mark() {
  const b = box();
  b.dataset.selected = chosen === null ? '' : chosen;
  for (const btn of b.querySelectorAll('.canopy-cluster')) {
    btn.classList.toggle('canopy-cluster-on', btn.dataset.answer === chosen);
  }
}

function list(clusters) {
  const el = box().querySelector('.canopy-cluster-list');
  el.replaceChildren();
  clusters.forEach((c, i) => {
    const btn = document.createElement('button');
    btn.className = 'canopy-cluster';
    btn.dataset.answer = c.answer;
    btn.dataset.index = String(i);
    btn.textContent = `${c.answer} · ${c.leaves.length} ${c.leaves.length === 1 ? 'leaf' : 'leaves'}`;
    btn.addEventListener('click', () => highlight(chosen === c.answer ? null : i));
    el.appendChild(btn);
  });
}

async function draw() {
  if (!window.Plotly) { setTimeout(draw, 50); return; }
  const val = current();
  const b = box();
  const clusters = (val && val.clusters) || [];
  const by = b.querySelector('.canopy-cluster-weight').value;
  b.dataset.count = String(clusters.length);
  b.dataset.run = val ? val.run : '';
  const empty = b.querySelector('.canopy-cluster-empty');
  empty.style.display = clusters.length ? 'none' : 'block';
  empty.textContent = (val && val.empty) || 'No final answer yet.';  // LIPS: why there are none
  const el = b.querySelector('.canopy-cluster-plot');
  list(clusters);
  if (chosen !== null) {  // the tree grew: the chosen cluster's leaves may have too
    const i = clusters.findIndex((c) => c.answer === chosen);
    if (i >= 0) highlight(i); else highlight(null);
  }
  mark();
  if (!clusters.length) { if (plot) { Plotly.purge(el); plot = null; } return; }
  const ys = clusters.map((c) => weightOf(c, by));
  const data = [{type: 'bar', x: clusters.map((c, i) => i), y: ys.map((y) => (y === null ? 0 : y)),
                 customdata: clusters.map((c, i) => i), hovertemplate: '%{text}<extra></extra>',
                 text: clusters.map((c, i) => `${c.label}: ${ys[i] === null ? 'no score' : ys[i]}`),
                 textposition: 'none', marker: {color: '#2a9d8f'}}];
  const layout = {margin: {l: 50, r: 10, t: 10, b: 60}, height: 260, yaxis: {title: {text: WEIGHT_TITLE[by]}},
                  xaxis: {tickvals: clusters.map((c, i) => i), ticktext: clusters.map((c) => c.label)}};
  if (plot !== el) {
    plot = el;
    await Plotly.newPlot(el, data, layout, {displaylogo: false, responsive: true});
    el.on('plotly_click', (ev) => {
      const p = (ev.points || [])[0];
      if (p) highlight(p.customdata);
    });
  } else {
    await Plotly.react(el, data, layout, {displaylogo: false, responsive: true});
  }
  b.dataset.weights = ys.map((y) => (y === null ? '' : String(y))).join(',');
}

element.addEventListener('change', (e) => {
  if (e.target && e.target.classList.contains('canopy-cluster-weight')) draw();
});
element.addEventListener('click', (e) => {
  if (e.target && e.target.classList.contains('canopy-cluster-clear')) highlight(null);
});
watch('value', draw);
draw();
