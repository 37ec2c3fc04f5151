// Canopy's offline run replay (backend/html_replay.py writes it into one .html file).
// The run's events are JSON in #canopy-data. The page folds them as backend/tree.py does,
// lays the tree out with a port of ui/layout.py (Buchheim-Juenger-Leipert tidy drawing) and
// draws the traces ui/static/tree.js draws, so the slider replays to the app's tree.
// Every value from the run reaches the page as a text node (textContent, createTextNode),
// never as markup; Plotly hover texts are escaped.
'use strict';
(function () {
  // where the time of opening goes (bench/html_replay.py prints it)
  const T = window.canopyT = {script: performance.now()};
  const DATA = JSON.parse(document.getElementById('canopy-data').textContent);
  T.parsed = performance.now();
  const EVENTS = DATA.events || [];
  const WEBGL_FROM = 1500, BANDS = 11, UNSCORED = '#bdbdbd'; // ui/figure.py
  const HOVER = '#%{customdata[0]} %{customdata[4]} · %{meta}<br>N=%{customdata[1]} Q=%{customdata[2]:.3f} ' +
    'PPM=%{customdata[3]}<br>%{text}<extra></extra>';
  const DIVERGING = [[0, '#b2182b'], [0.25, '#ef8a62'], [0.5, '#f7f7f7'], [0.75, '#67a9cf'], [1, '#2166ac']];
  const VIRIDIS = ['#440154', '#482878', '#3e4989', '#31688e', '#26828e', '#1f9e89', '#35b779', '#6ece58',
    '#b5de2b', '#fde725'];
  const SEQUENTIAL = VIRIDIS.map((c, i) => [Math.round(i / (VIRIDIS.length - 1) * 1e4) / 1e4, c]);
  // [symbol, outline, label] by number: an event that changes a node's look carries its number
  const STYLES = DATA.styles || [];
  const $ = (id) => document.getElementById(id);
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };
  // "1 node", "2 nodes" (ui/words.py: count)
  const count = (n, word) => n + ' ' + (n === 1 ? word : word + 's');
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&#x27;');

  // --- the fold (backend/tree.py) ---------------------------------------------------------
  function fresh() {
    return {nodes: new Map(), order: [], started: null, finished: null, upto: -1, tokens: 0, iterations: 0,
      best: null, lastSelected: []};
  }
  function apply(s, e) {
    const node = (id) => s.nodes.get(id);
    switch (e.type) {
      case 'run_started': s.started = e; break;
      case 'node_added': {
        const p = e.parent == null ? null : node(e.parent);
        const n = {id: e.id, parent: e.parent, kind: e.kind, depth: p ? p.depth + 1 : 0, text: e.text || '',
          code: e.code, prior: e.prior, tokens: e.tokens || 0, gen_ms: e.gen_ms || 0, terminal: !!e.terminal,
          parent: e.parent == null ? null : e.parent, children: [], added: e.seq, n: 0, q: 0, status: null, method: null, output: '', verify_ms: 0,
          answer: null, scores: null, pruned: false, picked: null, style: e.style};
        if (p) p.children.push(e.id);
        s.nodes.set(e.id, n); s.order.push(e.id); s.tokens += n.tokens;
        break;
      }
      case 'node_verified': {
        const n = node(e.id);
        Object.assign(n, {status: e.status, method: e.method, output: e.output || '', verify_ms: e.ms || 0,
          style: e.style});
        if (e.answer !== null && e.answer !== undefined) n.answer = e.answer;
        if (e.terminal !== null && e.terminal !== undefined) n.terminal = e.terminal;
        break;
      }
      case 'node_scored': { const n = node(e.id); (n.scores = n.scores || {})[e.source] = e.score; break; }
      case 'node_selected':
        s.lastSelected = e.path || [];
        for (const id of s.lastSelected) { const n = node(id); if (n) n.picked = e.iteration; }
        break;
      case 'backprop':
        for (const r of e.updated || []) { const n = node(r[0]); n.n = Math.trunc(r[1]); n.q = r[2]; }
        break;
      case 'iteration_done': s.iterations += 1; s.best = e.best_answer; break;
      case 'user_action':
        if (e.node !== null && e.node !== undefined && e.action === 'prune') Object.assign(node(e.node), {pruned: true, style: e.style});
        break;
      case 'run_finished': s.finished = e; break;
      default: break;
    }
    s.upto = e.seq;
  }
  function bestPath(s) { // Tree.best_path
    if (s.finished && s.finished.best_path && s.finished.best_path.length) return s.finished.best_path.slice();
    const better = (a, b) => a.q !== b.q ? a.q > b.q : (a.n !== b.n ? a.n > b.n : a.id < b.id);
    let best = null;
    for (const id of s.order) {
      const n = s.nodes.get(id);
      if (n.answer !== null && !n.pruned && (!best || better(n, best))) best = n;
    }
    if (best) {
      const path = [];
      for (let c = best; c; c = c.parent === null ? null : s.nodes.get(c.parent)) path.push(c.id);
      return path.reverse();
    }
    if (!s.order.length) return [];
    let n = s.nodes.get(s.order[0]);
    const path = [n.id];
    for (;;) {
      const live = n.children.map((c) => s.nodes.get(c)).filter((c) => !c.pruned);
      if (!live.length) break;
      n = live.reduce((a, b) => (better(b, a) ? b : a));
      path.push(n.id);
    }
    return path;
  }

  // --- the tidy layout (ui/layout.py, the batch case: every level once, deepest first) ------
  function tidy(s) {
    const ids = s.order, n = ids.length, slot = new Map();
    ids.forEach((id, k) => slot.set(id, k));
    const parent = new Int32Array(n), number = new Int32Array(n), depth = new Int32Array(n), kids = new Array(n);
    for (let k = 0; k < n; k++) {
      kids[k] = [];
      const pid = s.nodes.get(ids[k]).parent;
      const p = pid === null ? -1 : slot.get(pid);
      parent[k] = p;
      if (p >= 0) { depth[k] = depth[p] + 1; number[k] = kids[p].length; kids[p].push(k); }
    }
    const x = new Float64Array(n), mod = new Float64Array(n), change = new Float64Array(n);
    const shift = new Float64Array(n), mid = new Float64Array(n), thread = new Int32Array(n).fill(-1);
    const ancestor = new Int32Array(n);
    for (let k = 0; k < n; k++) ancestor[k] = k;
    const left = (u) => (kids[u].length ? kids[u][0] : thread[u]);
    const right = (u) => (kids[u].length ? kids[u][kids[u].length - 1] : thread[u]);
    function moveSubtree(wl, wr, amount) {
      const subtrees = number[wr] - number[wl];
      change[wr] -= amount / subtrees; shift[wr] += amount; change[wl] += amount / subtrees;
      x[wr] += amount; mod[wr] += amount;
    }
    function apportion(v, dflt) {
      const sib = kids[parent[v]];
      let vir = v, vor = v, vil = sib[number[v] - 1], vol = sib[0];
      let sir = mod[v], sor = mod[v], sil = mod[vil], sol = mod[vol];
      for (;;) {
        const nil = right(vil), nir = left(vir);
        if (nil < 0 || nir < 0) break;
        vil = nil; vir = nir; vol = left(vol); vor = right(vor);
        ancestor[vor] = v;
        const gap = (x[vil] + sil) - (x[vir] + sir) + 1;
        if (gap > 0) {
          const anc = parent[ancestor[vil]] === parent[v] ? ancestor[vil] : dflt;
          moveSubtree(anc, v, gap);
          sir += gap; sor += gap;
        }
        sil += mod[vil]; sir += mod[vir]; sol += mod[vol]; sor += mod[vor];
      }
      if (right(vil) >= 0 && right(vor) < 0) {
        thread[vor] = right(vil); mod[vor] += sil - sor;
      } else {
        if (left(vir) >= 0 && left(vol) < 0) { thread[vol] = left(vir); mod[vol] += sir - sol; }
        dflt = v;
      }
      return dflt;
    }
    function level(p) {
      const ks = kids[p];
      let dflt = ks[0], lbro = -1;
      for (const w of ks) {
        if (!kids[w].length) x[w] = lbro >= 0 ? x[lbro] + 1 : 0;
        else if (lbro >= 0) { x[w] = x[lbro] + 1; mod[w] = x[w] - mid[w]; }
        else x[w] = mid[w];
        if (lbro >= 0) dflt = apportion(w, dflt);
        lbro = w;
      }
      let sh = 0, c = 0;
      for (let i = ks.length - 1; i >= 0; i--) {
        const w = ks[i];
        x[w] += sh; mod[w] += sh; c += change[w]; sh += shift[w] + c;
      }
      mid[p] = (x[ks[0]] + x[ks[ks.length - 1]]) / 2;
    }
    const inner = [];
    for (let k = 0; k < n; k++) if (kids[k].length) inner.push(k);
    inner.sort((a, b) => depth[b] - depth[a]);
    for (const p of inner) level(p);
    const acc = new Float64Array(n), fin = new Float64Array(n);
    if (n) fin[0] = kids[0].length ? mid[0] : 0;
    let lo = n ? fin[0] : 0;
    for (let v = 1; v < n; v++) {
      const p = parent[v];
      acc[v] = acc[p] + mod[p];
      fin[v] = x[v] + acc[v];
      if (fin[v] < lo) lo = fin[v];
    }
    for (let v = 0; v < n; v++) fin[v] = round(fin[v] - lo, 3); // x as the app sends it
    return {x: fin, depth, slot};
  }

  // --- what each node looks like (ui/figure.py) ---------------------------------------------
  const styleOf = (n) => n.style;
  // Python's round(v, d): the double nearest to v's exact decimal value rounded half to even
  // at d digits (x, Q, PPM, marker sizes are rounded by the app this way; Math.round on v * 10^d
  // differs where that product rounds onto or off a half)
  function round(v, d) {
    if (!Number.isFinite(v) || Number.isInteger(v)) return v;
    const [ip, fp] = Math.abs(v).toFixed(100).split('.');
    const rest = fp.slice(d);
    let n = BigInt(ip + fp.slice(0, d));
    if (rest[0] > '5' || (rest[0] === '5' && (/[1-9]/.test(rest.slice(1)) || n % 2n === 1n))) n += 1n;
    const r = Number(n) / 10 ** d;
    return v < 0 ? -r : r;
  }
  const markerSize = (n, big) => (big ? round(Math.min(6 + 2.5 * Math.sqrt(Math.max(n, 0)), 20), 2)
    : round(Math.min(9 + 4 * Math.sqrt(Math.max(n, 0)), 30), 2));
  function hoverText(n, big) {
    const lines = big ? 1 : 3, width = big ? 48 : 72;
    const nonblank = (t) => String(t || '').split(/\r\n|\r|\n/).filter((l) => l.trim());
    let first = nonblank(n.text).slice(0, lines);
    if (!first.length) first = ['(no text)'];
    if (n.code && first.length < lines) first = first.concat(nonblank(n.code).slice(0, lines - first.length));
    return first.map((l) => esc(l.length <= width ? l : l.slice(0, width - 1) + '…')).join('<br>');
  }
  // a check that ran the step's code (method python) is execution, the others verify (ui/cost.py)
  const execMs = (n) => (n.method === 'python' ? n.verify_ms : 0);
  const ppmOf = (n) => (n.scores && n.scores.ppm !== undefined ? n.scores.ppm : null);
  const MODES = {
    q: {title: 'Q', scale: DIVERGING, value: (n) => n.q, lo: () => -1, hi: () => 1},
    ppm: {title: 'PPM', scale: DIVERGING, value: ppmOf, lo: () => -1, hi: () => 1},
    visits: {title: 'N', scale: SEQUENTIAL, value: (n) => n.n},
    depth: {title: 'depth', scale: SEQUENTIAL, value: (n) => n.depth},
    tokens: {title: 'tokens', scale: SEQUENTIAL, value: (n) => n.tokens},
    gen_ms: {title: 'generation ms', scale: SEQUENTIAL, value: (n) => n.gen_ms},
    exec_ms: {title: 'execution ms', scale: SEQUENTIAL, value: execMs},
    verify_ms: {title: 'verification ms', scale: SEQUENTIAL, value: (n) => n.verify_ms - execMs(n)},
  };
  function hex(c) { return [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)); }
  function scaleColor(scale, t) {
    t = Math.max(0, Math.min(1, t));
    for (let i = 1; i < scale.length; i++) {
      if (t <= scale[i][0] || i === scale.length - 1) {
        const [p0, c0] = scale[i - 1], [p1, c1] = scale[i];
        const f = p1 > p0 ? (t - p0) / (p1 - p0) : 0, a = hex(c0), b = hex(c1);
        return 'rgb(' + a.map((v, k) => Math.round(v + (b[k] - v) * f)).join(',') + ')';
      }
    }
    return scale[0][1];
  }

  // --- drawing -------------------------------------------------------------------------------
  let state = fresh(), userMode = null, selected = null, plotted = false, drawing = false, want = null;
  const plotEl = $('cr-plot'), slider = $('cr-slider');
  const config = {doubleClick: 'autosize', displaylogo: false, responsive: true, scrollZoom: true,
    modeBarButtonsToRemove: ['select2d', 'lasso2d', 'autoScale2d'],
    plotGlPixelRatio: Math.min(2, Math.max(1, window.devicePixelRatio || 1))};
  const hasPpm = (s) => s.order.some((id) => ppmOf(s.nodes.get(id)) !== null);
  // the modes that mean something for the run's algorithm, as the page offers them (ui/figure.py:
  // meaningful_modes): LIPS goals have no Q, PPM or visits; CPL and LIPS run no code
  const STARTED = EVENTS[0] || {}, ALGORITHM = STARTED.algorithm || (STARTED.spec || {}).algorithm || '';
  const OFFERED = Object.keys(MODES).filter((k) => !(ALGORITHM === 'lips' && ['q', 'ppm', 'visits'].includes(k)) &&
    !(['cpl', 'lips'].includes(ALGORITHM) && k === 'exec_ms'));
  // the page's default (ui/figure.py: default_color_mode): PPM when a node has a score, else Q, else the first
  const modeOf = (s) => (userMode && OFFERED.includes(userMode) ? userMode
    : (hasPpm(s) && OFFERED.includes('ppm') ? 'ppm' : (OFFERED.includes('q') ? 'q' : OFFERED[0])));

  function edgeWalk(s, lay) { // down each edge and back: one SVG path (tree.js: edgeWalk)
    const ex = [], ey = [];
    if (!s.order.length) return [ex, ey];
    const at = (id) => { const k = lay.slot.get(id); ex.push(lay.x[k]); ey.push(-lay.depth[k]); };
    const root = s.nodes.get(s.order[0]);
    if (!root.children.length) return [ex, ey];
    at(root.id);
    const stack = [[root, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (top[1] < top[0].children.length) {
        const c = s.nodes.get(top[0].children[top[1]++]);
        at(c.id); stack.push([c, 0]);
      } else {
        stack.pop();
        if (stack.length) at(stack[stack.length - 1][0].id);
      }
    }
    return [ex, ey];
  }
  function pathLine(lay, ids) {
    const xs = [], ys = [];
    for (const id of ids) { const k = lay.slot.get(id); if (k !== undefined) { xs.push(lay.x[k]); ys.push(-lay.depth[k]); } }
    return [xs, ys];
  }
  function traces(s, at) {
    const lay = tidy(s), ids = s.order, count = ids.length, big = count >= WEBGL_FROM;
    const mode = modeOf(s), m = MODES[mode], vals = ids.map((id) => m.value(s.nodes.get(id)));
    const lo = m.lo ? m.lo() : 0;
    const hi = m.hi ? m.hi() : Math.max(1, ...vals.filter((v) => v !== null));
    const [ex, ey] = edgeWalk(s, lay), [bx, by] = pathLine(lay, bestPath(s));
    const ev = EVENTS[at], [sx, sy] = pathLine(lay, ev && ev.type === 'node_selected' ? ev.path || [] : []);
    const data = [
      {type: 'scatter', name: 'edges', mode: 'lines', x: ex, y: ey, hoverinfo: 'skip', line: {color: '#b0b0b0', width: 1}},
      {type: 'scatter', name: 'best path', mode: 'lines', x: bx, y: by, hoverinfo: 'skip', line: {color: '#f2b705', width: 5}},
      {type: 'scatter', name: 'selected path', mode: 'lines', x: sx, y: sy, hoverinfo: 'skip',
        line: {color: '#7b2cbf', width: 3, dash: 'dash'}},
    ];
    const groups = new Map();
    for (let k = 0; k < count; k++) {
      const v = vals[k], st = styleOf(s.nodes.get(ids[k]));
      const b = v === null ? BANDS : (big ? Math.round(Math.max(0, Math.min(1, (v - lo) / ((hi - lo) || 1))) * (BANDS - 1)) : 0);
      const key = st * 64 + b;
      if (!groups.has(key)) groups.set(key, {style: st, band: b, idx: []});
      groups.get(key).idx.push(k);
    }
    for (const key of Array.from(groups.keys()).sort((a, b) => a - b)) {
      const g = groups.get(key), idx = g.idx, [symbol, outline, label] = STYLES[g.style];
      const nodes = idx.map((k) => s.nodes.get(ids[k]));
      const marker = {size: nodes.map((n) => markerSize(n.n, big)), symbol,
        line: {color: outline, width: outline === '#9e9e9e' ? 1 : 2.5}};
      if (g.band === BANDS) marker.color = UNSCORED;
      else if (big) marker.color = scaleColor(m.scale, g.band / (BANDS - 1));
      else Object.assign(marker, {color: idx.map((k) => vals[k]), colorscale: m.scale, cmin: lo, cmax: hi});
      data.push({type: big ? 'scattergl' : 'scatter', name: 'nodes: ' + label, meta: label, mode: 'markers',
        opacity: label === 'pruned' ? 0.35 : 1, x: idx.map((k) => lay.x[k]), y: idx.map((k) => -lay.depth[k]),
        customdata: nodes.map((n) => { const p = ppmOf(n); return [n.id, n.n, round(n.q, 4), p === null ? 'not scored' : round(p, 4), esc(n.kind)]; }),
        text: nodes.map((n) => hoverText(n, big)), hovertemplate: HOVER, marker});
    }
    legend(mode, m, lo, hi, vals);
    const shapes = [];
    const j = selected === null ? undefined : lay.slot.get(selected);
    if (j !== undefined) {
      shapes.push({type: 'circle', xref: 'x', yref: 'y', xsizemode: 'pixel', ysizemode: 'pixel', layer: 'above',
        xanchor: lay.x[j], yanchor: -lay.depth[j], x0: -17, x1: 17, y0: -17, y1: 17, line: {color: '#7b2cbf', width: 4}});
    }
    return {data, shapes, count};
  }
  function legend(mode, m, lo, hi, vals) {
    $('cr-mode').value = mode;
    const missing = vals.filter((v) => v === null).length, none = missing === vals.length;
    $('cr-scale-min').textContent = none ? '' : m.title + ' ' + String(round(lo, 2));
    $('cr-scale-max').textContent = none ? '' : String(round(hi, 2));
    const bar = $('cr-scale-bar');
    bar.style.display = none ? 'none' : '';
    bar.style.background = 'linear-gradient(to right, ' + m.scale.map(([p, c]) => c + ' ' + (100 * p) + '%').join(', ') + ')';
    $('cr-scale-note').textContent = none ? 'no node has a value here' : (missing ? 'grey = no value (' + missing + ' of ' + vals.length + ')' : '');
  }
  const LAYOUT = {uirevision: 'replay', margin: {l: 10, r: 10, t: 10, b: 10}, showlegend: false, hovermode: 'closest',
    dragmode: 'pan', height: 560, xaxis: {visible: false, zeroline: false, showgrid: false},
    yaxis: {visible: false, zeroline: false, showgrid: false}, plot_bgcolor: 'rgba(0,0,0,0)', paper_bgcolor: 'rgba(0,0,0,0)'};

  function seek(at) { // the fold after event ``at``: forward from here, or again from the start
    if (at < state.upto) state = fresh();
    for (let k = state.upto + 1; k <= at && k < EVENTS.length; k++) apply(state, EVENTS[k]);
  }
  async function draw(at) {
    if (drawing) { want = at; return; }
    drawing = true;
    try {
      for (;;) {
        const t0 = performance.now();
        seek(at);
        if (!T.folded) T.folded = performance.now();
        const {data, shapes, count} = traces(state, at);
        if (!T.traces) T.traces = performance.now();
        const layout = Object.assign({}, LAYOUT, {shapes});
        if (!plotted) {
          await Plotly.newPlot(plotEl, data, layout, config);
          plotEl.on('plotly_click', onClick);
          // as in ui/static/tree.js (separateClickTrains): a press on another node than the last
          // starts a new click train, so Plotly does not take two quick node clicks for a double-click
          let lastDown = null;
          plotEl.addEventListener('mousedown', () => {
            const p = (plotEl._hoverdata || []).find((q) => q.data && String(q.data.name).startsWith('nodes'));
            const id = p ? (p.customdata || p.data.customdata[p.pointIndex])[0] : null;
            if (id !== lastDown) plotEl._mouseDownTime = 0;
            lastDown = id;
          }, true);
          T.plotted = performance.now();
          plotted = true;
        } else {
          await Plotly.react(plotEl, data, layout, config);
        }
        caption(at);
        costLine(state);
        inspect();
        Object.assign(document.body.dataset, {rev: String(at), nodes: String(count), drawMs: (performance.now() - t0).toFixed(1)});
        if (want === null || want === at) break;
        at = want;
      }
    } finally {
      want = null;
      drawing = false;
    }
  }

  // --- words ----------------------------------------------------------------------------------
  function happened(e) {
    switch (e.type) {
      case 'node_added': return 'node #' + e.id + ' (' + e.kind + ') added ' + (e.parent == null ? 'as the root' : 'under #' + e.parent);
      case 'node_verified': return 'node #' + e.id + ' checked: ' + e.status + ' by ' + e.method + (e.answer !== null && e.answer !== undefined ? ', answer ' + e.answer : '');
      case 'node_scored': return 'node #' + e.id + ' scored ' + Number(e.score).toFixed(3) + ' by ' + e.source;
      case 'node_selected': return 'selection walked ' + (e.path || []).map((i) => '#' + i).join(' → ') + ' (the dashed purple line)';
      case 'backprop': return 'backpropagation updated N and Q of ' + count((e.updated || []).length, 'node');
      case 'iteration_done': return 'iteration ' + e.iteration + ' done: best answer ' + (e.best_answer == null ? 'none yet' : e.best_answer);
      case 'user_action': return 'the user pressed ' + e.action + (e.node !== null && e.node !== undefined ? ' on #' + e.node : '');
      case 'note': return e.level + ': ' + e.message;
      case 'run_finished': {
        const graded = e.correct !== null && e.correct !== undefined;
        return 'run finished' + (graded && e.status === 'solved' ? '' : ': ' + e.status) +
          (e.answer !== null && e.answer !== undefined ? ', answer ' + e.answer : '') +
          (graded ? (e.correct ? ', correct' : ', wrong (known ' + e.reference + ')') : '');
      }
      case 'run_started': return 'run started: ' + e.algorithm + ', reward ' + (e.reward || '?');
      default: return e.type;
    }
  }
  function costLine(s) { // where the tokens and time went up to this event (ui/cost.py: breakdown)
    let tok = 0, gen = 0, exe = 0, ver = 0;
    for (const n of s.nodes.values()) { tok += n.tokens; gen += n.gen_ms; exe += execMs(n); ver += n.verify_ms - execMs(n); }
    const sec = (ms) => (ms / 1000).toFixed(2) + ' s';
    const run = (s.finished && s.finished.stats) || {};  // the run's totals, known at its end
    const unkept = run.tokens > tok
      ? ' · run total ' + count(run.tokens, 'token') + ', generation ' + sec((run.gen_s || 0) * 1000) +
        ' (the rest went to text no node kept: duplicate samples, steps that did not parse, calls cut by a stop)'
      : '';
    $('cr-cost').textContent = 'Spent so far: ' + count(tok, 'token') + ' · generation ' + sec(gen) + ' · execution ' + sec(exe) +
      ' · verification ' + sec(ver) + ' · ' + count(s.order.length, 'node') + unkept;
  }
  function caption(at) {
    const e = EVENTS[at];
    $('cr-at').textContent = at + ' / ' + (EVENTS.length - 1);
    $('cr-caption').textContent = e ? 'event ' + e.seq + ' at ' + Number(e.t).toFixed(2) + ' s · ' + e.type + ': ' + happened(e) : '';
  }
  function dl(rows) {
    const d = el('dl');
    for (const [k, v] of rows) { d.appendChild(el('dt', k)); d.appendChild(el('dd', v)); }
    return d;
  }
  const num = (v, d) => (v === null || v === undefined ? '-' : String(round(Number(v), d)));
  function inspect() {
    const box = $('cr-inspector');
    box.replaceChildren(el('h2', 'Inspector'));
    if (selected === null) { box.appendChild(el('p', 'Click a node in the tree to inspect it.', 'cr-note')); return; }
    const n = state.nodes.get(selected);
    if (!n) { box.appendChild(el('p', 'Node #' + selected + ' is not in the tree yet at this event.', 'cr-note')); return; }
    box.appendChild(el('h3', 'Node #' + n.id + ' (' + n.kind + ') · depth ' + n.depth, 'cr-node-title'));
    const scores = n.scores ? Object.keys(n.scores).map((k) => k + ' ' + num(n.scores[k], 4)).join(', ') : '-';
    box.appendChild(dl([['N', String(n.n)], ['Q', num(n.q, 4)], ['PPM', ppmOf(n) === null ? 'not scored' : num(ppmOf(n), 4)],
      ['scores', scores], ['prior', num(n.prior, 4)], ['tokens', String(n.tokens)], ['generation', num(n.gen_ms, 1) + ' ms'],
      ['verification', (n.status || 'unverified') + (n.method ? ' by ' + n.method : '') + ' · ' + num(n.verify_ms, 1) + ' ms'],
      ['drawn as', STYLES[styleOf(n)][2]], ['answer', n.answer === null ? '-' : n.answer],
      ['terminal', n.terminal ? 'yes' : 'no'], ['pruned', n.pruned ? 'yes' : 'no'],
      ['last selected', n.picked === null ? 'never' : 'iteration ' + n.picked]]));
    box.appendChild(el('h4', 'Text'));
    box.appendChild(el('pre', n.text || '(no text)', 'cr-text'));
    if (n.code) { box.appendChild(el('h4', 'Code')); box.appendChild(el('pre', n.code, 'cr-code')); }
    if (n.output) { box.appendChild(el('h4', 'Output')); box.appendChild(el('pre', n.output, 'cr-output')); }
  }
  function onClick(ev) {
    const p = (ev.points || []).find((q) => q.data && String(q.data.name).startsWith('nodes'));
    if (!p) return;
    const row = p.customdata || p.data.customdata[p.pointIndex];
    selected = row[0];
    draw(Number(slider.value));
  }
  function header() {
    const started = EVENTS[0] || {}, spec = started.spec || {}, fin = EVENTS.find((e) => e.type === 'run_finished');
    document.title = 'Canopy replay: ' + String(started.problem || '').slice(0, 80);
    $('cr-problem').textContent = started.problem || '';
    // as the page says it: with a known answer the grade decides the words, never "solved" beside "wrong"
    const graded = fin && fin.correct !== null && fin.correct !== undefined;
    $('cr-outcome').textContent = fin
      ? (graded && fin.status === 'solved' ? 'finished' : 'finished (' + fin.status + ')') +
        ' · answer ' + (fin.answer == null ? '(none)' : fin.answer) +
        (graded ? (fin.correct ? ' · correct' : ' · wrong (known ' + fin.reference + ')') : '')
      : 'not finished in this file';
    const eng = started.engine || {};
    const rows = [
      ['run id', started.run_id], ['algorithm', spec.algorithm || started.algorithm], ['preset', spec.preset],
      ['model', spec.model || eng.model], ['model sha256', spec.model_sha256], ['engine', spec.engine || eng.name],
      ['seed', spec.seed], ['reward', started.reward || spec.reward], ['PPM', spec.ppm],
      ['settings', JSON.stringify(started.config || spec.config || {}, null, 1)],
      ['overrides', spec.config ? JSON.stringify(spec.config) : null], ['forked from', spec.parent],
      ['spec', started.spec ? (spec.reconstructed ? 'reconstructed from an older run' : 'as run') : 'none (an older run)'],
      ['Canopy (run)', (DATA.header && DATA.header.canopy_run) || eng.canopy], ['Canopy (file)', DATA.canopy],
      ['written', DATA.written], ['events', EVENTS.length]];
    const table = $('cr-spec');
    for (const [k, v] of rows) {
      if (v === null || v === undefined || v === '') continue;
      const tr = el('tr');
      tr.appendChild(el('td', k)); tr.appendChild(el('td', v));
      table.appendChild(tr);
    }
    const ul = $('cr-legend');  // the looks this run's nodes take
    for (const [symbol, , label] of STYLES) ul.appendChild(el('li', label + ' (' + symbol + ')'));
    $('cr-foot').textContent = 'Written by Canopy ' + DATA.canopy + '. Opens offline: plotly.js and the run are in this file.';
  }

  header();
  for (const o of Array.from($('cr-mode').options)) if (!OFFERED.includes(o.value)) o.remove();
  slider.max = String(Math.max(EVENTS.length - 1, 0));
  slider.value = slider.max;
  slider.addEventListener('input', () => draw(Number(slider.value)));
  $('cr-mode').addEventListener('change', (e) => { userMode = e.target.value; draw(Number(slider.value)); });
  window.canopyReplay = {seek: (k) => draw(k), events: EVENTS.length};
  draw(EVENTS.length - 1).then(() => requestAnimationFrame(() => setTimeout(() => {
    document.body.dataset.ready = '1';
    window.canopyReadyAt = performance.now();
  }, 0)));
})();
