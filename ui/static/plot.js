// A plain Plotly figure in a gr.HTML (the convergence panel): value = {data, layout}, or
// that as a JSON string (live updates: Gradio handles one string much faster than a big
// nested dict). Drawing waits until the page is idle: the tree's update, which arrives
// with it, gets its frame first (measured in chromium: a 50 ms convergence redraw that
// ran between the tree's draw and its frame held a 10k-node tree's update off screen).
let busy = false, pending = false, raw = null, parsed = null;
function current() {
  const v = props.value;
  if (typeof v !== 'string') return v;
  if (v !== raw) { raw = v; parsed = v ? JSON.parse(v) : null; }
  return parsed;
}
async function draw() {
  if (!window.Plotly) { setTimeout(draw, 50); return; }
  if (busy) { pending = true; return; }
  busy = true;
  try {
    do {
      pending = false;
      const v = current();
      const el = element.querySelector('.canopy-simple-plot');
      // a figure with nothing to draw says why (v.empty) instead of showing empty axes;
      // v.note is a line above a chart
      const note = element.querySelector('.canopy-plot-note');
      const empty = !!(v && v.empty);
      if (note) {
        note.textContent = v ? (v.empty || v.note || '') : '';
        note.style.display = note.textContent ? 'block' : 'none';
      }
      el.style.display = empty ? 'none' : '';
      if (empty) Plotly.purge(el);
      else if (v && v.data) await Plotly.react(el, v.data, v.layout, {displaylogo: false, responsive: true});
    } while (pending);
  } catch (e) {
    console.error('canopy plot:', e);
  } finally {
    busy = false;
  }
}
const later = () => (window.requestIdleCallback
  ? requestIdleCallback(draw, {timeout: 1000})
  : requestAnimationFrame(() => setTimeout(draw, 0)));
watch('value', later);
draw();
