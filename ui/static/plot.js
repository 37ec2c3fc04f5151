// A plain Plotly figure in a gr.HTML (the convergence panel): value = {data, layout}.
let busy = false, pending = false;
async function draw() {
  if (!window.Plotly) { setTimeout(draw, 50); return; }
  if (busy) { pending = true; return; }
  busy = true;
  try {
    do {
      pending = false;
      const v = props.value;
      const el = element.querySelector('.canopy-simple-plot');
      if (v && v.data) await Plotly.react(el, v.data, v.layout, {displaylogo: false, responsive: true});
    } while (pending);
  } catch (e) {
    console.error('canopy plot:', e);
  } finally {
    busy = false;
  }
}
watch('value', draw);
draw();
