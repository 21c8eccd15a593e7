// How values read on the page: numbers, times, durations, labels.

const NUMBER = new Intl.NumberFormat("en-US");
const EXACT = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric",
  hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
});

export const TYPE_LABELS = {
  fub_onboarding: "FUB Onboard",
  fub_sync: "FUB Sync",
  rezen_sync: "reZEN Sync",
  contacts_import: "Contacts import",
  contacts_export: "Contacts export",
  schedule_syncs: "Sync fan-out",
  prune_jobs: "Prune",
  reap_jobs: "Reaper",
};

export const QUEUE_LABELS = {
  fub_onboarding: "FUB Onboard",
  fub_sync: "FUB Sync",
  rezen_sync: "reZEN Sync",
  general: "General",
};

// A shape and a word for every status, so none depends on colour alone.
export const STATUS = {
  pending: { icon: "◌", word: "Pending", verb: "Queued" },
  processing: { icon: "○", word: "Processing", verb: "Started" },
  complete: { icon: "●", word: "Completed", verb: "Completed" },
  error: { icon: "✗", word: "Failed", verb: "Failed" },
  cancelled: { icon: "⊘", word: "Cancelled", verb: "Cancelled" },
};

export const ACTIVE = new Set(["pending", "processing"]);

export function number(n) {
  return n === null || n === undefined ? "–" : NUMBER.format(n);
}

export function typeLabel(type) {
  return TYPE_LABELS[type] || type.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

/** "#3fa9c1": the random end of a job's UUID, short enough to say aloud. */
export function shortId(id) {
  return "#" + id.replace(/-/g, "").slice(-6);
}

export function exactTime(iso) {
  return iso ? EXACT.format(new Date(iso)) : "";
}

/** "just now", "2 min ago", "3 h ago", "4 days ago" (or "in 2 min" for the future). */
export function relativeTime(iso, now = Date.now()) {
  if (!iso) return "";
  const seconds = Math.round((now - new Date(iso).getTime()) / 1000);
  const ahead = seconds < 0;
  const s = Math.abs(seconds);
  let text;
  if (s < 10) return ahead ? "in a moment" : "just now";
  if (s < 60) text = `${s} s`;
  else if (s < 3600) text = `${Math.round(s / 60)} min`;
  else if (s < 86400) text = `${Math.round(s / 3600)} h`;
  else text = `${Math.round(s / 86400)} days`;
  return ahead ? `in ${text}` : `${text} ago`;
}

/** "850 ms", "12 s", "3 min 20 s", "2 h 5 min". */
export function duration(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
  const minutes = Math.round((s % 3600) / 60);
  return minutes ? `${Math.floor(s / 3600)} h ${minutes} min` : `${Math.floor(s / 3600)} h`;
}

/** "about 2 min left". */
export function eta(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 60) return `about ${Math.max(1, Math.round(seconds))} s left`;
  if (seconds < 3600) return `about ${Math.round(seconds / 60)} min left`;
  return `about ${(seconds / 3600).toFixed(1)} h left`;
}

export function rate(perSecond, unit) {
  if (!perSecond) return "";
  const u = unit || "items";
  if (perSecond >= 1) return `${number(Math.round(perSecond * 10) / 10)} ${u}/s`;
  return `${number(Math.round(perSecond * 600) / 10)} ${u}/min`;
}
