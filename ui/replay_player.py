"""Play / pause and speed for the History replay (issue 15: replay as a film, not only a slider).

The player is page-only: it moves the replay slider (``#hist-slider``) one event at a time at
the chosen speed, as a user dragging it would (an ``input`` event: the History screen's own
handler draws the tree at that event), and stops at the last event or when the user presses
Pause or drags the slider. Its controls sit right under the slider. No server state: the
slider is the replay's only position.
"""

from __future__ import annotations

import gradio as gr

PLAYER_TEMPLATE = """
<div class="canopy-player">
  <button type="button" class="canopy-play" title="play the replay event by event">▶ Play</button>
  <label>speed <select class="canopy-speed">
    <option value="1">1 event/s</option><option value="2" selected>2 events/s</option>
    <option value="5">5 events/s</option><option value="10">10 events/s</option>
    <option value="25">25 events/s</option>
  </select></label>
  <span class="canopy-player-state"></span>
</div>
"""

PLAYER_JS = """
const box = element.querySelector('.canopy-player');
const button = box.querySelector('.canopy-play'), speed = box.querySelector('.canopy-speed');
const state = box.querySelector('.canopy-player-state');
const range = () => document.querySelector('#hist-slider input[type=range]');
let timer = null, moving = false;
// under the slider, where a player belongs (the element is ours: Gradio never redraws it)
const place = () => {
  const slider = document.querySelector('#hist-slider');
  if (slider && slider.nextElementSibling !== box) slider.after(box);
};
function stop(why) {
  if (timer) clearInterval(timer);
  timer = null;
  button.textContent = '▶ Play';
  state.textContent = why || '';
  window.canopyPlaying = false;
}
function step() {
  const r = range();
  if (!r) return stop('');
  const v = Number(r.value), max = Number(r.max);
  if (v >= max) return stop('at the last event');
  moving = true;
  r.value = String(v + 1);
  r.dispatchEvent(new Event('input', {bubbles: true}));
  moving = false;
}
function play() {
  const r = range();
  if (!r) return;
  if (Number(r.value) >= Number(r.max)) {
    r.value = r.min;
    r.dispatchEvent(new Event('input', {bubbles: true}));
  }
  place();
  if (timer) clearInterval(timer);
  timer = setInterval(step, 1000 / Number(speed.value));
  button.textContent = '⏸ Pause';
  state.textContent = '';
  window.canopyPlaying = true;
}
button.addEventListener('click', () => (timer ? stop('paused') : play()));
speed.addEventListener('change', () => { if (timer) play(); });
// the user takes the slider: the player lets go
document.addEventListener('pointerdown', (e) => {
  if (timer && e.target && e.target.closest && e.target.closest('#hist-slider')) stop('paused');
}, true);
setTimeout(place, 0);
setInterval(place, 1000);  // the History screen may be drawn after this element
"""

PLAYER_CSS = """
.canopy-player { display: flex; gap: 1em; align-items: center; font-size: 0.9em; margin: 0.3em 0; }
.canopy-player .canopy-play { padding: 0.2em 0.9em; border: 1px solid var(--border-color-primary);
  border-radius: 4px; background: var(--button-secondary-background-fill); cursor: pointer; }
.canopy-player .canopy-player-state { color: var(--body-text-color-subdued); }
"""


def build_replay_player() -> gr.HTML:
    """The player's controls (they move themselves under the History slider)."""
    return gr.HTML(
        value="",
        html_template=PLAYER_TEMPLATE,
        js_on_load=PLAYER_JS,
        css_template=PLAYER_CSS,
        elem_id="replay-player",
        padding=False,
    )
