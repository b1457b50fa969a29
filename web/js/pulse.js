// The "working" dot's beat, stepped by the page's redraw tick rather than a CSS animation: an
// animation (or a transition on the progress bars) keeps chromium drawing 60 frames a second
// for the whole push — style, layout, paint and raster that cost a 512 MiB push ~3 s of CPU
// (bench/README.md) — where a step per tick adds nothing to the frame the tick draws anyway.

/** The dot of a `.status` element, dimmed every other step (`data-beat` on / dim). */
export class Pulse {
  constructor(statusEl) {
    this.el = statusEl;
    this.steps = 0;
    statusEl.dataset.beat = 'on';
  }

  /** One redraw tick (every 250 ms): the dot changes every other tick. */
  step() {
    this.steps += 1;
    if (this.steps % 2 === 0) this.el.dataset.beat = this.el.dataset.beat === 'on' ? 'dim' : 'on';
  }

  /** The work ended: the dot stays as its state colours it. */
  stop() {
    delete this.el.dataset.beat;
  }
}
