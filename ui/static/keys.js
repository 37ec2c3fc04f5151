// Keyboard shortcuts for the Solve screen (ui/keys.py), so a teacher can drive a demo without
// the mouse. Keys are ignored while typing in a box. s: Step · p or space: Pause/Resume ·
// n: teacher mode's Next phase · c: collapse/expand the selected node · ←/→: previous/next sibling · ↑: parent · ↓: first child
// (the tree's selection moves and the inspector follows: tree.js listens for 'canopy-nav').
const NAV = {ArrowLeft: 'prev', ArrowRight: 'next', ArrowUp: 'parent', ArrowDown: 'child'};
const BUTTONS = {s: '#step-btn', p: '#pause-btn', ' ': '#pause-btn', n: '#teach-next'};
const NOT_TEXT = new Set(['checkbox', 'radio', 'button', 'submit', 'range', 'color', 'file']);
function typing(t) {  // a box that takes text has the focus (a checked box or a slider does not count)
  if (!t || !t.closest) return false;
  if (t.tagName === 'INPUT') return !NOT_TEXT.has((t.type || 'text').toLowerCase());
  return !!t.closest('textarea, select, [contenteditable="true"], .cm-editor');
}
if (!window.canopyKeys) {
  window.canopyKeys = true;
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    if (e.key === 'c') {  // collapse / expand the selected node's subtree
      window.dispatchEvent(new CustomEvent('canopy-view', {detail: {target: 'tree', collapse: 'selected'}}));
      return;
    }
    const dir = NAV[e.key];
    if (dir) {
      e.preventDefault();
      window.dispatchEvent(new CustomEvent('canopy-nav', {detail: {target: 'tree', dir}}));
      return;
    }
    const sel = BUTTONS[e.key === ' ' ? ' ' : String(e.key).toLowerCase()];
    const btn = sel ? document.querySelector(sel) : null;
    if (btn && btn.offsetParent !== null) { e.preventDefault(); btn.click(); }
  });
}
