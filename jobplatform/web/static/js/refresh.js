// Auto-refresh: every N seconds while the tab is visible (a choice remembered in
// localStorage), paused while it is hidden, backing off after failures without blanking.

const KEY = "jobplatform.refresh";
export const CHOICES = [1, 2, 5, 15, 0];
const MAX_BACKOFF = 30;

export class Poller {
  constructor(tick, { onFailure, onRecovery } = {}) {
    this.tick = tick;
    this.onFailure = onFailure || (() => {});
    this.onRecovery = onRecovery || (() => {});
    this.failures = 0;
    this.timer = null;
    this.running = false;
    this.pending = false;
    const stored = Number(localStorage.getItem(KEY));
    this.seconds = CHOICES.includes(stored) && localStorage.getItem(KEY) !== null ? stored : 1;
    this.stopped = false;
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && !this.stopped) this.now();
    });
  }

  /** Stop refreshing (signed out) until `now()` is called again. */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
  }

  setSeconds(seconds) {
    this.seconds = seconds;
    localStorage.setItem(KEY, String(seconds));
    this.schedule();
  }

  /** Refresh now (and then on the usual beat). */
  now() {
    this.stopped = false;
    if (this.running) {
      this.pending = true;
      return;
    }
    clearTimeout(this.timer);
    this.run();
  }

  schedule(delaySeconds = this.seconds) {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.stopped) return;
    if (!delaySeconds && !this.failures) return; // off: only manual refreshes
    this.timer = setTimeout(() => this.run(), (delaySeconds || this.seconds || 5) * 1000);
  }

  async run() {
    if (document.hidden || this.stopped) return; // visibilitychange or now() resumes it
    this.running = true;
    try {
      await this.tick();
      if (this.failures) this.onRecovery();
      this.failures = 0;
      this.running = false;
      if (this.pending) {
        this.pending = false;
        this.run();
        return;
      }
      this.schedule();
    } catch (err) {
      this.running = false;
      this.failures += 1;
      const delay = Math.min(MAX_BACKOFF, Math.max(1, this.seconds || 1) * 2 ** (this.failures - 1));
      this.onFailure(err, delay);
      this.schedule(delay);
    }
  }
}
